// `takt workstations list|add`: the workstation registry.
import ArgumentParser
import TaktDomain

struct WorkstationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workstations",
        abstract: "List or register workstations.",
        subcommands: [WorkstationsList.self, WorkstationsAdd.self],
        defaultSubcommand: WorkstationsList.self)
}

struct WorkstationsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List registered workstations.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this site.")
    var site: String?

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let stations = try await client.listWorkstations(siteID: site)
        if global.json {
            JSON.array(stations.map { w in
                .object([("site_id", .string(w.siteID)), ("workstation_id", .string(w.workstationID)), ("name", .string(w.name)),
                         ("location", .string(w.location)), ("type", .string(w.type))])
            }).print()
            return
        }
        if stations.isEmpty { print("no workstations registered"); return }
        var t = Table([.init("SITE"), .init("STATION"), .init("NAME"), .init("TYPE"), .init("LOCATION")])
        for w in stations {
            t.add([Cell(w.siteID), Cell(w.workstationID, styled: global.style.bold(w.workstationID)), Cell(w.name), Cell(w.type), Cell(w.location)])
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

    func validate() throws {
        guard IdentifierRules.isValid(id) else { throw ValidationError("workstation id \"\(id)\": use 1-64 of A-Z a-z 0-9 _ . : -") }
        guard IdentifierRules.isValid(site) else { throw ValidationError("--site \"\(site)\": use 1-64 of A-Z a-z 0-9 _ . : -") }
    }

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let r = try await client.upsertWorkstations([WorkstationRecord(siteID: site, workstationID: id, name: name, location: location, type: type)])
        let what = r.created > 0 ? "created" : "updated"
        if global.json {
            JSON.object([("workstation_id", .string(id)), ("site_id", .string(site)), ("result", .string(what))]).print()
        } else {
            print("\(what) workstation \(id) (site \(site))")
        }
    }
}
