// `takt workers list|add`: the worker registry.
import ArgumentParser
import TaktDomain

struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers",
        abstract: "List or register workers.",
        subcommands: [WorkersList.self, WorkersAdd.self],
        defaultSubcommand: WorkersList.self)
}

struct WorkersList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List registered workers.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this site.")
    var site: String?

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let workers = try await client.listWorkers(siteID: site)
        if global.json {
            JSON.array(workers.map { w in
                .object([("site_id", .string(w.siteID)), ("worker_id", .string(w.workerID)), ("name", .string(w.name)),
                         ("shift", .string(w.shift)), ("department", .string(w.department))])
            }).print()
            return
        }
        if workers.isEmpty { print("no workers registered"); return }
        var t = Table([.init("SITE"), .init("WORKER"), .init("NAME"), .init("SHIFT"), .init("DEPARTMENT")])
        for w in workers { t.add([Cell(w.siteID), Cell(w.workerID, styled: global.style.bold(w.workerID)), Cell(w.name), Cell(w.shift), Cell(w.department)]) }
        t.print(global.style)
    }
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

    func validate() throws {
        guard IdentifierRules.isValid(id) else { throw ValidationError("worker id \"\(id)\": use 1-64 of A-Z a-z 0-9 _ . : -") }
        guard IdentifierRules.isValid(site) else { throw ValidationError("--site \"\(site)\": use 1-64 of A-Z a-z 0-9 _ . : -") }
    }

    func run() async throws {
        let client = try await global.connect()
        defer { client.close() }
        let r = try await client.upsertWorkers([WorkerRecord(siteID: site, workerID: id, name: name, shift: shift, department: department)])
        let what = r.created > 0 ? "created" : "updated"
        if global.json {
            JSON.object([("worker_id", .string(id)), ("site_id", .string(site)), ("result", .string(what))]).print()
        } else {
            print("\(what) worker \(id) (site \(site))")
        }
    }
}
