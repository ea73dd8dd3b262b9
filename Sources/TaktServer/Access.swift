// Access control and quotas (README "Authentication and limits"): tokens from an auth file,
// stored as salted SHA-256 hashes and compared in constant time; roles and sites per token;
// token-bucket rate limits on events per second.
import Foundation
import Synchronization
import TaktDomain
import TaktPosix
import TaktSync

/// What a token may do.
public enum Role: String, Sendable, Codable, CaseIterable {
    /// Submit events (and health).
    case ingest
    /// Read metrics, events, the registry, stats (and health).
    case query
    /// Everything, including registry changes.
    case admin
}

/// Events per second with bursts. Shared by every connection of one token.
public final class TokenBucket: Sendable {
    public let ratePerSecond: Double
    public let burst: Double
    private let state: LockedValue<(tokens: Double, lastNs: UInt64)>

    public init(ratePerSecond: Double, burst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = max(burst, 1)
        state = LockedValue((max(burst, 1), System.monotonicNs()))
    }

    /// Takes `n` events' worth, or says how long to wait (ms). A batch larger than the burst is
    /// admitted once the bucket is full, leaving it in debt, so no batch size is locked out.
    public func take(_ n: Int) -> UInt32? {
        state.withLock { s in
            let now = System.monotonicNs()
            s.tokens = min(burst, s.tokens + Double(now &- s.lastNs) / 1e9 * ratePerSecond)
            s.lastNs = now
            let need = min(Double(n), burst)
            if s.tokens >= need {
                s.tokens -= Double(n)
                return nil
            }
            return UInt32(min(60_000, max(1, ((need - s.tokens) / ratePerSecond * 1000).rounded(.up))))
        }
    }
}

/// Who is calling: from a token, or the anonymous full-access principal when auth is off.
public struct Principal: Sendable {
    public let name: String
    public let role: Role
    /// Sites the token may write and read; nil means every site.
    public let sites: Set<String>?
    public let limiter: TokenBucket?

    public static func anonymous(limiter: TokenBucket?) -> Principal {
        Principal(name: "anonymous", role: .admin, sites: nil, limiter: limiter)
    }

    public func mayUse(_ site: String) -> Bool { sites?.contains(site) ?? true }

    var sitesDescription: String { sites.map { $0.sorted().joined(separator: ", ") } ?? "*" }

    /// PERMISSION_DENIED unless the role allows the method.
    func authorize(_ method: MethodID) throws(RPCError) {
        let allowed: Bool
        switch method {
        case .healthCheck: allowed = true
        case .submitEvent, .submitBatch: allowed = role == .ingest || role == .admin
        case .stats, .queryMetrics, .listEvents, .subscribe, .listWorkers, .listWorkstations, .listSites:
            allowed = role == .query || role == .admin
        case .upsertWorkers, .upsertWorkstations: allowed = role == .admin
        }
        if !allowed {
            throw RPCError(.permissionDenied, "token '\(name)' (role \(role.rawValue)) may not call \(method.name)")
        }
    }

    /// PERMISSION_DENIED unless the token may read `site` (nil: every site, allowed only to all-site tokens).
    func authorizeRead(site: String?) throws(RPCError) {
        guard let sites else { return }
        guard let site, !site.isEmpty else {
            throw RPCError(.permissionDenied, "token '\(name)' may read only sites [\(sitesDescription)]: name one in site_id")
        }
        if !sites.contains(site) {
            throw RPCError(.permissionDenied, "token '\(name)' may not read site '\(site)' (allowed: \(sitesDescription))")
        }
    }

    func authorizeWrite(sites written: some Sequence<String>) throws(RPCError) {
        guard let sites else { return }
        for s in written where !sites.contains(s) {
            throw RPCError(.permissionDenied, "token '\(name)' may not write site '\(s)' (allowed: \(sitesDescription))")
        }
    }
}

/// The auth file: `{"tokens": [{"name", "hash", "role", "sites", "revoked", "rate_limit", "burst"}]}`.
/// `hash` is `sha256:<salt hex>:<digest hex>` of salt bytes followed by the token's UTF-8 bytes,
/// as printed by `taktd --hash-token`. `sites` `["*"]` means every site.
public struct AuthFile: Sendable, Codable {
    public struct Entry: Sendable, Codable {
        public var name: String
        public var hash: String
        public var role: Role
        public var sites: [String]
        public var revoked: Bool?
        public var rate_limit: Double?
        public var burst: Double?
    }
    public var tokens: [Entry]
}

public struct AuthError: Error, CustomStringConvertible {
    public let description: String
}

public final class Authenticator: Sendable {
    struct Credential: Sendable {
        let entry: AuthFile.Entry
        let salt: [UInt8]
        let digest: [UInt8]
        let limiter: TokenBucket?
    }

    public let path: String
    private let credentials: LockedValue<[Credential]>
    private let defaultRate: Double?
    private let defaultBurst: Double?
    /// Failed authentication attempts since start.
    public let failures = Atomic<UInt64>(0)

    public init(path: String, defaultRate: Double?, defaultBurst: Double?) throws {
        self.path = path
        self.defaultRate = defaultRate
        self.defaultBurst = defaultBurst
        credentials = LockedValue(try Self.load(path, defaultRate: defaultRate, defaultBurst: defaultBurst))
    }

    public var tokenCount: Int { credentials.withLock { $0.count } }

    /// Re-reads the file (SIGHUP); on error the old tokens stay in force.
    public func reload() throws {
        let fresh = try Self.load(path, defaultRate: defaultRate, defaultBurst: defaultBurst)
        credentials.withLock { $0 = fresh }
    }

    static func load(_ path: String, defaultRate: Double?, defaultBurst: Double?) throws -> [Credential] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AuthError(description: "auth file \(path): cannot be read")
        }
        let file: AuthFile
        do {
            file = try JSONDecoder().decode(AuthFile.self, from: data)
        } catch {
            throw AuthError(description: "auth file \(path): not valid (\(error))")
        }
        var names = Set<String>()
        return try file.tokens.enumerated().map { (i, e) in
            guard names.insert(e.name).inserted else { throw AuthError(description: "auth file \(path): token name '\(e.name)' appears twice") }
            let parts = e.hash.split(separator: ":")
            guard parts.count == 3, parts[0] == "sha256", let salt = Hex.decode(String(parts[1])),
                  let digest = Hex.decode(String(parts[2])), digest.count == 32, salt.count >= 8 else {
                throw AuthError(description: "auth file \(path): tokens[\(i)] ('\(e.name)'): hash must be sha256:<salt hex>:<64 hex digits> (see taktd --hash-token)")
            }
            if e.sites.isEmpty { throw AuthError(description: "auth file \(path): tokens[\(i)] ('\(e.name)'): sites is empty (use [\"*\"] for every site)") }
            let rate = e.rate_limit ?? defaultRate
            let limiter = rate.flatMap { $0 > 0 ? TokenBucket(ratePerSecond: $0, burst: e.burst ?? defaultBurst ?? $0) : nil }
            return Credential(entry: e, salt: salt, digest: digest, limiter: limiter)
        }
    }

    /// The principal for `token`, or why not. Every stored hash is compared, in constant time, so
    /// the answer's timing does not depend on which token (if any) matched.
    public func authenticate(_ token: String) -> Result<Principal, RPCError> {
        let creds = credentials.withLock { $0 }
        guard !token.isEmpty else {
            failures.add(1, ordering: .relaxed)
            return .failure(RPCError(.unauthenticated, "this server requires a token (ClientHello.auth_token)"))
        }
        var match: Credential?
        let bytes = Array(token.utf8)
        for c in creds {
            let d = SHA256.hash(c.salt + bytes)
            var diff: UInt8 = 0
            for i in 0..<32 { diff |= d[i] ^ c.digest[i] }
            if diff == 0 && match == nil { match = c }
        }
        guard let m = match else {
            failures.add(1, ordering: .relaxed)
            return .failure(RPCError(.unauthenticated, "unknown token"))
        }
        if m.entry.revoked == true {
            failures.add(1, ordering: .relaxed)
            return .failure(RPCError(.unauthenticated, "token '\(m.entry.name)' is revoked"))
        }
        let sites: Set<String>? = m.entry.sites.contains("*") ? nil : Set(m.entry.sites)
        return .success(Principal(name: m.entry.name, role: m.entry.role, sites: sites, limiter: m.limiter))
    }

    /// `sha256:<salt>:<digest>` for a new token (taktd --hash-token).
    public static func hashLine(for token: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return "sha256:\(Hex.encode(salt)):\(Hex.encode(SHA256.hash(salt + Array(token.utf8))))"
    }
}
