// `takt model-health`: detector confidence per model version (spec/metrics.md section 6).
import ArgumentParser
import TaktDomain

struct ModelHealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-health",
        abstract: "Detector confidence per model version: status, mean, spread, drift, low-confidence rejections.",
        discussion: """
        Status from the mean confidence of the last 100 accepted events: HEALTHY (≥ 0.85), CAUTION \
        (≥ 0.75), WARNING (< 0.75), UNKNOWN (no samples). Drift compares the last 24 h with the 7 days before.
        """)

    @OptionGroup var global: GlobalOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Evaluate as of this time (RFC 3339, ms, or relative). Default: now.", valueName: "time"))
    var to: String?
    @Option(help: "Only this site.")
    var site: String?

    func validate() throws {
        if let to { _ = try TimeText.parseForValidation(to, flag: "--to") }
    }

    func run() async throws {
        let toMs = try to.map { try TimeText.parse($0, flag: "--to") }
        let client = try await global.connect()
        defer { client.close() }
        let r = try await client.metrics(MetricsQuery(scope: .modelHealth, toMs: toMs, siteID: site))
        guard let report = r.modelHealth else {
            throw CLIFailure(.serverError, "the server sent no model health report. Check that taktd is up to date.")
        }
        let versions = report.versions.sorted { ($0.modelVersion ?? "") < ($1.modelVersion ?? "") }
        if global.json {
            JSON.object([
                ("to_ms", .int(report.toMs)), ("overall", .modelHealth(report.overall)),
                ("versions", .array(versions.map { .modelHealth($0) })),
            ]).print()
            return
        }
        let s = global.style
        var t = Table([.init("MODEL"), .init("STATUS"), .init("SAMPLES", .right), .init("MEAN", .right),
                       .init("STDDEV", .right), .init("LOW-CONF 24H", .right), .init("RECENT", .right),
                       .init("BASELINE", .right), .init("DRIFT", .right), .init("")])
        func row(_ h: ModelHealth, label: String, bold: Bool) {
            let status: String
            switch h.status {
            case .healthy: status = s.green(h.status.name)
            case .caution: status = s.yellow(h.status.name)
            case .warning: status = s.red(h.status.name)
            case .unknown: status = s.dim(h.status.name)
            }
            let opt: (Double?) -> String = { $0.map { Format.fixed($0, 3) } ?? "-" }
            let drift = h.driftPct.map { Format.fixed($0, 1) + "%" } ?? "-"
            t.add([Cell(label, styled: bold ? s.bold(label) : label), Cell(h.status.name, styled: status),
                   Cell(Format.count(h.samples)), Cell(h.samples > 0 ? Format.fixed(h.meanConfidence, 3) : "-"),
                   Cell(h.samples > 0 ? Format.fixed(h.stddevConfidence, 3) : "-"),
                   Cell(Format.count(h.lowConfidenceRejections24h)), Cell(opt(h.recentMean)), Cell(opt(h.baselineMean)),
                   Cell(drift), h.driftDetected ? Cell("DRIFT", styled: s.red("DRIFT")) : Cell("")])
        }
        for v in versions { row(v, label: (v.modelVersion ?? "").isEmpty ? "(none)" : v.modelVersion!, bold: false) }
        row(report.overall, label: "all versions", bold: true)
        print(s.dim("as of \(TimeText.local(report.toMs))"))
        t.print(s)
    }
}
