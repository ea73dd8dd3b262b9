// `takt workers list|add` and `takt workstations list|add`: the registry. Both kinds of record list
// the same way (a table, or JSON with one object per record) through `RegistryListing`.
import ArgumentParser
import TaktClient
import TaktDomain

struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers",
        abstract: "List or register workers.",
        subcommands: [RegistryList<WorkerRecord>.self, WorkersAdd.self],
        defaultSubcommand: RegistryList<WorkerRecord>.self)
}

struct WorkersAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register a worker, or update the one with this id.",
        discussion: "Example: takt workers add W7 --name \"Ana Costa\" --shift A --department Assembly")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Worker id (1-64 of A-Z a-z 0-9 _ . : -).")
    var id: String
    @Option(help: "Site id.")
    var site: String = Event.defaultSite
    @Option(help: "Display name.")
    var name: String = ""
    @Option(help: "Shift name.")
    var shift: String = ""
    @Option(help: "Department.")
    var department: String = ""

    func validate() throws { try validateRegistryIDs(WorkerRecord.self, id: id, site: site) }

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let r = try await client.upsertWorkers([WorkerRecord(siteID: site, workerID: id, name: name, shift: shift, department: department)])
        printUpsert(WorkerRecord.self, id: id, site: site, created: r.created > 0, global)
    }
}

struct WorkstationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workstations",
        abstract: "List or register workstations.",
        subcommands: [RegistryList<WorkstationRecord>.self, WorkstationsAdd.self],
        defaultSubcommand: RegistryList<WorkstationRecord>.self)
}

/// `takt workers list` and `takt workstations list`.
struct RegistryList<R: RegistryListing>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "list", abstract: "List registered \(R.noun)s.")
    }

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this site.")
    var site: String?

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let records = try await R.list(from: client, siteID: site)
        if global.json {
            JSON.array(records.map { r in
                .object([("site_id", .string(r.siteID)), ("\(R.noun)_id", .string(r.recordID))]
                        + r.jsonDetails.map { ($0.0, .string($0.1)) })
            }).print()
            return
        }
        if records.isEmpty { print("no \(R.noun)s registered"); return }
        var t = Table((["SITE", R.idHeading] + R.detailHeadings).map { Table.Column($0) })
        for r in records {
            t.add([Cell(r.siteID), Cell(r.recordID, styled: global.style.bold(r.recordID))] + r.tableDetails.map { Cell($0) })
        }
        t.print(global.style)
    }
}

struct WorkstationsAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register a workstation, or update the one with this id.",
        discussion: "Example: takt workstations add S7 --name \"Welding 2\" --type welding --location \"Hall A, bay 7\"")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Workstation id (1-64 of A-Z a-z 0-9 _ . : -).")
    var id: String
    @Option(help: "Site id.")
    var site: String = Event.defaultSite
    @Option(help: "Display name.")
    var name: String = ""
    @Option(help: "Where it is.")
    var location: String = ""
    @Option(help: "Kind of station (assembly, welding, ...).")
    var type: String = ""

    func validate() throws { try validateRegistryIDs(WorkstationRecord.self, id: id, site: site) }

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let r = try await client.upsertWorkstations([WorkstationRecord(siteID: site, workstationID: id, name: name,
                                                                       location: location, type: type)])
        printUpsert(WorkstationRecord.self, id: id, site: site, created: r.created > 0, global)
    }
}

// MARK: - Output shared by both kinds

/// How one kind of registry record is listed.
protocol RegistryListing: Sendable {
    static func list(from client: TaktClient, siteID: String?) async throws -> [Self]
    /// "worker", "workstation": messages and the JSON id field (`<noun>_id`).
    static var noun: String { get }
    /// Table headings after SITE and the id column.
    static var idHeading: String { get }
    static var detailHeadings: [String] { get }
    var siteID: String { get }
    var recordID: String { get }
    /// JSON fields after `site_id` and the id, in wire order.
    var jsonDetails: [(String, String)] { get }
    /// Table cells under `detailHeadings`.
    var tableDetails: [String] { get }
}

extension WorkerRecord: RegistryListing {
    static func list(from client: TaktClient, siteID: String?) async throws -> [WorkerRecord] {
        try await client.listWorkers(siteID: siteID)
    }
    static var noun: String { "worker" }
    static var idHeading: String { "WORKER" }
    static var detailHeadings: [String] { ["NAME", "SHIFT", "DEPARTMENT"] }
    var recordID: String { workerID }
    var jsonDetails: [(String, String)] { [("name", name), ("shift", shift), ("department", department)] }
    var tableDetails: [String] { [name, shift, department] }
}

extension WorkstationRecord: RegistryListing {
    static func list(from client: TaktClient, siteID: String?) async throws -> [WorkstationRecord] {
        try await client.listWorkstations(siteID: siteID)
    }
    static var noun: String { "workstation" }
    static var idHeading: String { "STATION" }
    static var detailHeadings: [String] { ["NAME", "TYPE", "LOCATION"] }
    var recordID: String { workstationID }
    var jsonDetails: [(String, String)] { [("name", name), ("location", location), ("type", type)] }
    var tableDetails: [String] { [name, type, location] }
}

func validateRegistryIDs<R: RegistryListing>(_: R.Type, id: String, site: String) throws {
    guard IdentifierRules.isValid(id) else { throw ValidationError("\(R.noun) id \"\(id)\": use 1-64 of A-Z a-z 0-9 _ . : -") }
    guard IdentifierRules.isValid(site) else { throw ValidationError("--site \"\(site)\": use 1-64 of A-Z a-z 0-9 _ . : -") }
}

func printUpsert<R: RegistryListing>(_: R.Type, id: String, site: String, created: Bool, _ global: GlobalOptions) {
    let what = created ? "created" : "updated"
    if global.json {
        JSON.object([("\(R.noun)_id", .string(id)), ("site_id", .string(site)), ("result", .string(what))]).print()
    } else {
        print("\(what) \(R.noun) \(id) (site \(site))")
    }
}
