// `takt seed`: deterministic demo data (FactorySimulation) through the normal registry and ingest RPCs.
import ArgumentParser
import TaktClient
import TaktDomain
import TaktPosix
import TaktSimulation

struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Load realistic demo data: workers on two shifts with a slow start and a lunch dip, units while working.",
        discussion: """
        The same --seed, sizes and --end give the same events. Like real gateways, a small share of \
        events is duplicated (DUPLICATE), late, or below the confidence threshold (LOW_CONFIDENCE); \
        those results are expected and do not fail the command. Registers the workers and workstations \
        (with names) first, then sends the events in pipelined batches. Seeding twice is harmless: the \
        repeats come back DUPLICATE.
        """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Seed of the simulation.")
    var seed: UInt64 = 1
    @Option(help: "Number of workers (W1...Wn).")
    var workers: Int = 6
    @Option(help: "Number of workstations (S1...Sn).")
    var stations: Int = 6
    @Option(help: "Hours of production, ending at --end (1-168).")
    var hours: Int = 36
    @Option(parsing: .unconditional, help: ArgumentHelp("End of the data (exclusive): RFC 3339, ms, or relative. Default: now.", valueName: "time"))
    var end: String?
    @Option(help: "Site id.")
    var site: String = Event.defaultSite
    @Option(help: "SubmitBatch calls in flight at once.")
    var inFlight: Int = 4
    @Flag(help: "No progress output on stderr.")
    var quiet = false

    func validate() throws {
        guard (1...1_000).contains(workers) else { throw ValidationError("--workers must be 1-1000, got \(workers)") }
        guard (1...1_000).contains(stations) else { throw ValidationError("--stations must be 1-1000, got \(stations)") }
        guard (1...168).contains(hours) else { throw ValidationError("--hours must be 1-168, got \(hours)") }
        guard (1...64).contains(inFlight) else { throw ValidationError("--in-flight must be 1-64, got \(inFlight)") }
        guard IdentifierRules.isValid(site) else { throw ValidationError("--site \"\(site)\": use 1-64 of A-Z a-z 0-9 _ . : -") }
        if let end { _ = try TimeText.parseForValidation(end, flag: "--end") }
    }

    func run() async throws {
        let endMs = try end.map { try TimeText.parse($0, flag: "--end") } ?? System.nowMs()
        let sim = FactorySimulation.demo(seed: seed, nowMs: endMs, hours: hours, workers: workers, workstations: stations,
                                         siteID: site)
        let client = try await global.connect(retry: GlobalOptions.uploadRetry)
        defer { client.close() }
        let w = try await client.upsertWorkers(sim.workerRecords)
        let s = try await client.upsertWorkstations(sim.workstationRecords)

        let startMs = endMs - Int64(hours) * 3_600_000
        var stream = sim.events()
        var position = 0
        var late = 0
        var deliveredUpTo = startMs
        let progress = UploadProgress(label: "seed", quiet: quiet, style: global.errorStyle)
        let upload = EventUpload(client: client, inFlight: inFlight, timeoutMs: global.timeoutMs)
        let tally: UploadTally
        do {
            tally = try await upload.run(next: {
                var batch = UploadBatch()
                while batch.events.count < 1_000, let e = stream.next() {
                    position += 1
                    if e.isLate { late += 1 }
                    deliveredUpTo = e.deliverAtMs
                    batch.events.append(e.event)
                    batch.lines.append(position)
                }
                return batch.events.isEmpty ? nil : batch
            }, progress: { t in
                // The stream is in delivery order over [start, end): how far delivery got is the progress.
                progress.update(t, fraction: Double(deliveredUpTo - startMs) / Double(max(1, endMs - startMs)))
            })
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()

        let elapsed = progress.elapsedSeconds
        if global.json {
            JSON.object([
                ("seed", .integer(seed)), ("site_id", .string(site)), ("workers", .integer(workers)),
                ("workstations", .integer(stations)), ("from_ms", .int(startMs)), ("to_ms", .int(endMs)),
                ("workers_created", .integer(w.created)), ("workstations_created", .integer(s.created)),
                ("events_sent", .integer(tally.sent)), ("late_events", .integer(late)),
                ("results", .object(ResultCode.allCases.map { ($0.name, .integer(tally.counts[$0] ?? 0)) })),
                ("elapsed_ms", .integer(Int64(elapsed * 1000))),
            ]).print()
        } else {
            let st = global.style
            print(st.bold("seed \(seed)") + ": \(workers) workers, \(stations) workstations, site \(site), \(hours) h from \(TimeText.local(startMs)) to \(TimeText.local(endMs))")
            print("registry: \(w.created) workers created, \(w.updated) updated; \(s.created) workstations created, \(s.updated) updated")
            let counts = ResultCode.allCases.compactMap { c -> String? in
                let n = tally.counts[c] ?? 0
                return n == 0 && c != .accepted ? nil : "\(c.name) \(Format.count(n))"
            }.joined(separator: ", ")
            print("events: \(Format.count(tally.sent)) sent in \(Format.fixed(elapsed, 1)) s (\(Format.count(late)) delivered late): \(counts)")
            print(st.dim("next: takt metrics workers --from \(TimeText.isoArgument(startMs)) --to \(TimeText.isoArgument(endMs))   or   takt top"))
        }
    }
}
