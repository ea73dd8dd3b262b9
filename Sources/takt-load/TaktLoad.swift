// takt-load: a load generator for taktd that tells the truth (issue 7). `run` is the default
// command; the hidden ones measure the ceilings and the metric engine for scripts/bench.sh.
import ArgumentParser

@main
struct TaktLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "takt-load",
        abstract: "Load generator for taktd: simulated camera gateways, open or closed loop, exact stored-count check.",
        subcommands: [Run.self, Ceiling.self, MetricsBench.self, BenchReport.self],
        defaultSubcommand: Run.self)
}
