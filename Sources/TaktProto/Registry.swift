// registry.proto: worker, workstation and site records, upserts and listings.
import TaktDomain
import TaktProtoC

/// Workers sent to or listed by the registry: the payload of both `UpsertWorkersRequest` and
/// `ListWorkersResponse`, which have the same layout (`repeated Worker workers = 1`).
/// An empty `site_id` on the wire decodes as `"default"`.
public struct WorkerList: Sendable, Hashable {
    public var workers: [WorkerRecord]
    public init(_ workers: [WorkerRecord]) {
        self.workers = workers
    }
}

/// Workstations sent to or listed by the registry: `UpsertWorkstationsRequest` and
/// `ListWorkstationsResponse` (same layout). An empty `site_id` decodes as `"default"`.
public struct WorkstationList: Sendable, Hashable {
    public var workstations: [WorkstationRecord]
    public init(_ workstations: [WorkstationRecord]) {
        self.workstations = workstations
    }
}

/// `ListSitesResponse`.
public struct SiteList: Sendable, Hashable {
    public var sites: [SiteRecord]
    public init(_ sites: [SiteRecord]) {
        self.sites = sites
    }
}

/// `ListRegistryRequest`: the request of ListWorkers, ListWorkstations and ListSites.
public struct RegistryListRequest: Sendable, Hashable {
    /// nil: every site (empty on the wire).
    public var siteID: String?
    public init(siteID: String? = nil) {
        self.siteID = siteID
    }
}

private func siteOrDefault(_ s: String) -> String { s.isEmpty ? Event.defaultSite : s }

extension WorkerList: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.UpsertWorkersRequest" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: workers.count * (MemoryLayout<Takt__V1__Worker>.stride + 8 + 64) + 64)
        // UpsertWorkersRequest and ListWorkersResponse are byte-identical; one C message serves both.
        var m = Takt__V1__UpsertWorkersRequest()
        takt__v1__upsert_workers_request__init(&m)
        m.n_workers = workers.count
        m.workers = arena.messages(workers) { arena, p, w in
            takt__v1__worker__init(p)
            arena.set(&p.pointee.site_id, w.siteID)
            arena.set(&p.pointee.worker_id, w.workerID)
            arena.set(&p.pointee.name, w.name)
            arena.set(&p.pointee.shift, w.shift)
            arena.set(&p.pointee.department, w.department)
        }
        appendPacked(&m, to: &buffer, size: takt__v1__upsert_workers_request__get_packed_size,
                     pack: takt__v1__upsert_workers_request__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__UpsertWorkersRequest, WorkerList>(
        protoMessageName, unpack: { takt__v1__upsert_workers_request__unpack($0, $1, $2) },
        free: { takt__v1__upsert_workers_request__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__UpsertWorkersRequest) throws(DecodeError) in
            WorkerList(try messages(m.workers, m.n_workers, "workers") {
                (w: borrowing Takt__V1__Worker, path) throws(DecodeError) in
                WorkerRecord(siteID: siteOrDefault(try string(w.site_id, "\(path()).site_id")),
                             workerID: try string(w.worker_id, "\(path()).worker_id"),
                             name: try string(w.name, "\(path()).name"),
                             shift: try string(w.shift, "\(path()).shift"),
                             department: try string(w.department, "\(path()).department"))
            })
        })
}

extension WorkstationList: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.UpsertWorkstationsRequest" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: workstations.count * (MemoryLayout<Takt__V1__Workstation>.stride + 8 + 64) + 64)
        // UpsertWorkstationsRequest and ListWorkstationsResponse are byte-identical.
        var m = Takt__V1__UpsertWorkstationsRequest()
        takt__v1__upsert_workstations_request__init(&m)
        m.n_workstations = workstations.count
        m.workstations = arena.messages(workstations) { arena, p, w in
            takt__v1__workstation__init(p)
            arena.set(&p.pointee.site_id, w.siteID)
            arena.set(&p.pointee.workstation_id, w.workstationID)
            arena.set(&p.pointee.name, w.name)
            arena.set(&p.pointee.location, w.location)
            arena.set(&p.pointee.type, w.type)
        }
        appendPacked(&m, to: &buffer, size: takt__v1__upsert_workstations_request__get_packed_size,
                     pack: takt__v1__upsert_workstations_request__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__UpsertWorkstationsRequest, WorkstationList>(
        protoMessageName, unpack: { takt__v1__upsert_workstations_request__unpack($0, $1, $2) },
        free: { takt__v1__upsert_workstations_request__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__UpsertWorkstationsRequest) throws(DecodeError) in
            WorkstationList(try messages(m.workstations, m.n_workstations, "workstations") {
                (w: borrowing Takt__V1__Workstation, path) throws(DecodeError) in
                WorkstationRecord(siteID: siteOrDefault(try string(w.site_id, "\(path()).site_id")),
                                  workstationID: try string(w.workstation_id, "\(path()).workstation_id"),
                                  name: try string(w.name, "\(path()).name"),
                                  location: try string(w.location, "\(path()).location"),
                                  type: try string(w.type, "\(path()).type"))
            })
        })
}

/// `UpsertResponse`. Counts are uint32 on the wire (clamped when encoding).
extension UpsertResult: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.UpsertResponse" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var m = Takt__V1__UpsertResponse()
        takt__v1__upsert_response__init(&m)
        m.created = UInt32(clamping: created)
        m.updated = UInt32(clamping: updated)
        appendPacked(&m, to: &buffer, size: takt__v1__upsert_response__get_packed_size,
                     pack: takt__v1__upsert_response__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__UpsertResponse, UpsertResult>(
        protoMessageName, unpack: { takt__v1__upsert_response__unpack($0, $1, $2) },
        free: { takt__v1__upsert_response__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__UpsertResponse) in UpsertResult(created: Int(m.created), updated: Int(m.updated)) })
}

extension SiteList: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.ListSitesResponse" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: sites.count * (MemoryLayout<Takt__V1__Site>.stride + 8 + 24) + 64)
        var m = Takt__V1__ListSitesResponse()
        takt__v1__list_sites_response__init(&m)
        m.n_sites = sites.count
        m.sites = arena.messages(sites) { arena, p, s in
            takt__v1__site__init(p)
            arena.set(&p.pointee.site_id, s.siteID)
            p.pointee.workers = UInt32(clamping: s.workers)
            p.pointee.workstations = UInt32(clamping: s.workstations)
        }
        appendPacked(&m, to: &buffer, size: takt__v1__list_sites_response__get_packed_size,
                     pack: takt__v1__list_sites_response__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__ListSitesResponse, SiteList>(
        protoMessageName, unpack: { takt__v1__list_sites_response__unpack($0, $1, $2) },
        free: { takt__v1__list_sites_response__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__ListSitesResponse) throws(DecodeError) in
            SiteList(try messages(m.sites, m.n_sites, "sites") { (s: borrowing Takt__V1__Site, path) throws(DecodeError) in
                SiteRecord(siteID: try string(s.site_id, "\(path()).site_id"), workers: Int(s.workers),
                           workstations: Int(s.workstations))
            })
        })
}

extension RegistryListRequest: ProtoMessage, ProtoDecoderBacked {
    public static var protoMessageName: String { "takt.v1.ListRegistryRequest" }

    public func appendProtobuf(to buffer: inout [UInt8]) {
        var arena = PackArena(expectedBytes: (siteID?.utf8.count ?? 0) + 1)
        var m = Takt__V1__ListRegistryRequest()
        takt__v1__list_registry_request__init(&m)
        if let s = siteID { arena.set(&m.site_id, s) }
        appendPacked(&m, to: &buffer, size: takt__v1__list_registry_request__get_packed_size,
                     pack: takt__v1__list_registry_request__pack)
    }

    public init(protobuf bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try Self.protoDecoder.decode(bytes)
    }

    static let protoDecoder = ProtoDecoder<Takt__V1__ListRegistryRequest, RegistryListRequest>(
        protoMessageName, unpack: { takt__v1__list_registry_request__unpack($0, $1, $2) },
        free: { takt__v1__list_registry_request__free_unpacked($0, $1) },
        map: { (m: borrowing Takt__V1__ListRegistryRequest) throws(DecodeError) in
            let site = try string(m.site_id, "site_id")
            return RegistryListRequest(siteID: site.isEmpty ? nil : site)
        })
}
