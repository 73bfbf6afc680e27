//! `plot`: turns the results of `benches/run.sh` into the tables of
//! `BENCHMARKS.md` and the plot `docs/bench/throughput.svg` (hand-written
//! SVG, no dependencies).
//!
//! ```text
//! cargo run --release --example plot -- \
//!     --criterion target/criterion --results target/bench-results \
//!     --md BENCHMARKS.md --svg docs/bench/throughput.svg
//! ```
//!
//! Inputs:
//! * `<criterion>/peers_*/<system>/<payload>/new/{estimates,benchmark}.json`
//!   written by `cargo bench --bench peers` (median time per iteration and
//!   the records per iteration);
//! * or, when `benches/run.sh` ran several passes of that bench,
//!   `<results>/peers-passes/<n>/peers_*/...` (the same files, one copy per
//!   pass): each cell then shows the median over the passes, and each
//!   ratio is the median of the ratios taken within one pass;
//! * `<results>/machine.txt`, `latency.tsv`, `slow_consumer.tsv`,
//!   `peers_lag.tsv` written by `benches/run.sh` and the examples;
//! * `<results>/go_peers.txt`: the output of the Go binding's
//!   `BenchmarkPeers` (`go test -bench`, several runs with `-count`) after
//!   a few `# ` header lines, written by `benches/run.sh`.
//!
//! Only the text between `<!-- BEGIN generated:NAME -->` and
//! `<!-- END generated:NAME -->` in the Markdown file is replaced; the rest
//! (method, analysis, profiles) is kept as written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// Scenario groups in display order: (criterion group, title, consumers).
const GROUPS: &[(&str, &str, usize)] = &[
    ("peers_1p_1c", "1 producer → 1 consumer", 1),
    ("peers_1p_2c", "1 producer → 2 consumers", 2),
    ("peers_1p_4c", "1 producer → 4 consumers", 4),
    ("peers_4p_4c", "4 producers → 4 consumers", 4),
    (
        "peers_1p_1c_spin",
        "1 producer → 1 consumer, busy-spinning waits",
        1,
    ),
];
/// Systems in display order: (criterion name, display name).
const SYSTEMS: &[(&str, &str)] = &[
    ("fanlog", "fanlog"),
    ("fanlog_batch16", "fanlog batch16"),
    ("fanlog_default", "fanlog 64 MiB"),
    ("disruptor", "disruptor"),
    ("bus", "bus"),
    ("crossbeam", "crossbeam"),
    ("tokio", "tokio"),
    ("async_broadcast", "async-broadcast"),
];
/// The peers fanlog is compared with.
const PEERS: &[&str] = &["disruptor", "bus", "crossbeam", "tokio", "async_broadcast"];
const PAYLOADS: &[usize] = &[8, 64, 1024];

const USAGE: &str = "\
plot: BENCHMARKS.md tables and docs/bench/throughput.svg from the bench results

USAGE:
    cargo run --release --example plot -- [--criterion DIR] [--results DIR] [--md FILE] [--svg FILE]

Defaults: target/criterion, target/bench-results, BENCHMARKS.md, docs/bench/throughput.svg
";

/// Throughput results: (group, system, payload) -> records appended/s.
type Rates = BTreeMap<(String, String, usize), f64>;

/// The number after `"key":` following the first `"section":` in `json`.
fn json_number(json: &str, section: &str, key: &str) -> Option<f64> {
    let at = json.find(&format!("\"{section}\""))?;
    let rest = &json[at..];
    let k = rest.find(&format!("\"{key}\":"))? + key.len() + 3;
    let num: String = rest[k..]
        .chars()
        .skip_while(|c| c.is_whitespace())
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    num.parse().ok()
}

fn read_rates(criterion: &Path) -> Rates {
    let mut rates = Rates::new();
    for &(group, _, _) in GROUPS {
        for &(system, _) in SYSTEMS {
            for &payload in PAYLOADS {
                let dir = criterion
                    .join(group)
                    .join(system)
                    .join(format!("{payload}B"))
                    .join("new");
                let (Ok(est), Ok(bench)) = (
                    fs::read_to_string(dir.join("estimates.json")),
                    fs::read_to_string(dir.join("benchmark.json")),
                ) else {
                    continue;
                };
                let (Some(ns), Some(elems)) = (
                    json_number(&est, "median", "point_estimate"),
                    json_number(&bench, "throughput", "Elements"),
                ) else {
                    eprintln!("cannot parse {}", dir.display());
                    continue;
                };
                rates.insert(
                    (group.to_string(), system.to_string(), payload),
                    elems / (ns * 1e-9),
                );
            }
        }
    }
    rates
}

/// Every pass's rates: `<results>/peers-passes/<n>/` (copies of
/// criterion's `peers_*` results, one per pass of `benches/run.sh`), in pass
/// order, or the criterion directory alone when there are none.
fn read_passes(criterion: &Path, results: &Path) -> Vec<Rates> {
    let mut dirs: Vec<(u32, PathBuf)> = fs::read_dir(results.join("peers-passes"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect();
    dirs.sort();
    let passes: Vec<Rates> = dirs
        .iter()
        .map(|(_, d)| read_rates(d))
        .filter(|r| !r.is_empty())
        .collect();
    if passes.is_empty() {
        vec![read_rates(criterion)]
    } else {
        passes
    }
}

/// The median of `v` (not empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Each cell's median over the passes that measured it.
fn median_rates(passes: &[Rates]) -> Rates {
    let mut all: BTreeMap<(String, String, usize), Vec<f64>> = BTreeMap::new();
    for p in passes {
        for (k, &r) in p {
            all.entry(k.clone()).or_default().push(r);
        }
    }
    all.into_iter().map(|(k, v)| (k, median(v))).collect()
}

/// fanlog / `peer` in each pass that measured both (a ratio within one
/// pass, i.e. within one run of the bench).
fn pass_ratios(passes: &[Rates], group: &str, peer: &str, payload: usize) -> Vec<f64> {
    let key = |s: &str| (group.to_string(), s.to_string(), payload);
    passes
        .iter()
        .filter_map(|p| Some(p.get(&key("fanlog"))? / p.get(&key(peer))?))
        .collect()
}

fn fmt_rate(r: f64) -> String {
    if r >= 100e6 {
        format!("{:.0} M/s", r / 1e6)
    } else if r >= 1e6 {
        format!("{:.1} M/s", r / 1e6)
    } else {
        format!("{:.2} M/s", r / 1e6)
    }
}

fn fmt_payload(p: usize) -> String {
    if p >= 1024 {
        format!("{} KiB", p / 1024)
    } else {
        format!("{p} B")
    }
}

fn fmt_ratio(x: f64) -> String {
    if x < 1.0 {
        format!("**{x:.2}×**")
    } else {
        format!("{x:.2}×")
    }
}

fn display(system: &str) -> &str {
    display_in(SYSTEMS, system)
}

/// The display name of `system` in a (name, display name) table, or the
/// name itself.
fn display_in<'a>(table: &[(&str, &'a str)], system: &'a str) -> &'a str {
    table
        .iter()
        .find(|(s, _)| *s == system)
        .map_or(system, |(_, d)| *d)
}

/// The throughput section: ratio table, absolute table, verdict.
fn throughput_md(passes: &[Rates], lags: &str) -> String {
    let mut md = String::new();
    let rates = median_rates(passes);
    let get = |g: &str, s: &str, p: usize| rates.get(&(g.to_string(), s.to_string(), p)).copied();
    let n = passes.len();
    let how = if n > 1 {
        format!(
            "the median over {n} passes of the bench, each ratio taken within one pass; \
             ↕ where fanlog was ahead in some passes and behind in others"
        )
    } else {
        "one pass of the bench".to_string()
    };
    let _ = writeln!(
        md,
        "Ratios **fanlog / peer** of records appended per second (criterion's median \
         iteration; {how}; > 1 means fanlog is ahead; **bold** where it is behind; — where \
         the peer has no such mode).\n"
    );
    let _ = write!(md, "| scenario | payload |");
    for p in PEERS {
        let _ = write!(md, " {} |", display(p));
    }
    let _ = write!(md, "\n|---|---|");
    for _ in PEERS {
        let _ = write!(md, "---|");
    }
    md.push('\n');
    let mut behind = Vec::new();
    let mut sides = Vec::new();
    let mut cells = 0;
    for &(group, title, _) in GROUPS {
        for &payload in PAYLOADS {
            if get(group, "fanlog", payload).is_none() {
                continue;
            }
            let _ = write!(md, "| {title} | {} |", fmt_payload(payload));
            for peer in PEERS {
                let xs = pass_ratios(passes, group, peer, payload);
                match xs.iter().copied().reduce(f64::min) {
                    Some(lo) => {
                        let hi = xs.iter().copied().fold(lo, f64::max);
                        let x = median(xs);
                        cells += 1;
                        let cell = format!("{title}, {}: {}", fmt_payload(payload), display(peer));
                        if x < 1.0 {
                            behind.push(format!("{cell} {x:.2}×"));
                        }
                        let mark = if lo < 1.0 && hi >= 1.0 {
                            sides.push(format!("{cell} {lo:.2}–{hi:.2}×"));
                            " ↕"
                        } else {
                            ""
                        };
                        let _ = write!(md, " {}{mark} |", fmt_ratio(x));
                    }
                    None => {
                        let _ = write!(md, " — |");
                    }
                }
            }
            md.push('\n');
        }
    }
    let _ = writeln!(
        md,
        "\nfanlog is ahead in **{} of {cells}** comparisons.{}",
        cells - behind.len(),
        if behind.is_empty() {
            String::new()
        } else {
            format!(" Behind in: {}.", behind.join("; "))
        }
    );
    if n > 1 {
        let _ = writeln!(
            md,
            "\nAhead in some of the {n} passes and behind in others (lowest–highest ratio): {}.",
            if sides.is_empty() {
                "none".to_string()
            } else {
                sides.join("; ")
            }
        );
    }

    let _ = writeln!(
        md,
        "\nRecords appended per second ({}; each is delivered to every consumer: multiply \
         by the consumer count for records delivered).\n",
        if n > 1 {
            format!("the median over {n} passes")
        } else {
            "one pass".to_string()
        }
    );
    let _ = write!(md, "| scenario | payload |");
    for (_, d) in SYSTEMS {
        let _ = write!(md, " {d} |");
    }
    let _ = write!(md, "\n|---|---|");
    for _ in SYSTEMS {
        let _ = write!(md, "---:|");
    }
    md.push('\n');
    for &(group, title, _) in GROUPS {
        for &payload in PAYLOADS {
            if get(group, "fanlog", payload).is_none() {
                continue;
            }
            let _ = write!(md, "| {title} | {} |", fmt_payload(payload));
            for (s, _) in SYSTEMS {
                match get(group, s, payload) {
                    Some(r) => {
                        let _ = write!(md, " {} |", fmt_rate(r));
                    }
                    None => {
                        let _ = write!(md, " — |");
                    }
                }
            }
            md.push('\n');
        }
    }
    // Losses of the lossy peers.
    let mut lost: Vec<String> = Vec::new();
    let mut checked = 0;
    for line in lags.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        checked += 1;
        if f[3] != "0" {
            lost.push(format!(
                "{}/{}/{} B: {} of {}",
                f[0], f[1], f[2], f[3], f[4]
            ));
        }
    }
    if checked > 0 {
        let _ = writeln!(
            md,
            "\nRecords lost (tokio `Lagged`, counted by the consumers) in {checked} benchmark runs: {}.",
            if lost.is_empty() {
                "none".to_string()
            } else {
                lost.join(", ")
            }
        );
    }
    md
}

/// The latency section from `latency.tsv`.
fn latency_md(tsv: &str) -> String {
    let mut md = String::new();
    let mut clock = String::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for line in tsv.lines() {
        if let Some(c) = line.strip_prefix("# clock_ns\t") {
            clock = c.to_string();
            continue;
        }
        if line.starts_with("system\t") || line.is_empty() {
            continue;
        }
        rows.push(line.split('\t').map(str::to_string).collect());
    }
    if rows.is_empty() {
        return "(no latency results)\n".to_string();
    }
    let _ = writeln!(
        md,
        "One-way latency, 1 producer → 1 consumer, 64 B records, in ns (clock read: {clock} ns, \
         included). `peak` = unpaced (the producer stamps its send time); `half` = 50% of that \
         peak; other rates are offered rates. Latency is measured from each record's *due* time.\n"
    );
    let _ = writeln!(
        md,
        "| system | rate | offered/s | achieved/s | p50 | p99 | p99.9 | max | lost |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let num = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    for r in &rows {
        if r.len() < 10 {
            continue;
        }
        let offered = if r[1] == "peak" || r[1] == "roundtrip" {
            "—".to_string()
        } else {
            format!("{:.0}", num(&r[2]))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            r[0],
            r[1],
            offered,
            num(&r[3]),
            r[4],
            r[5],
            r[6],
            r[7],
            r[9]
        );
    }
    let find = |sys: &str, rate: &str| {
        rows.iter()
            .find(|r| r.len() >= 10 && r[0] == sys && r[1] == rate)
    };
    if let (Some(pp), Some(f)) = (find("pingpong", "roundtrip"), find("fanlog_spin", "1M")) {
        let (pp50, pp99, f99) = (num(&pp[4]), num(&pp[5]), num(&f[5]));
        let _ = writeln!(
            md,
            "\nGoal check: fanlog (spin) p99 at 1 M/s = {f99:.0} ns; ping-pong floor p50 = {pp50:.0} ns, \
             p99 = {pp99:.0} ns → **{:.1}×** the floor's p50, **{:.1}×** its p99 (goal: within 3×).",
            f99 / pp50,
            f99 / pp99
        );
        if let Some(sp) = find("spsc_floor", "1M") {
            let (s50, s99) = (num(&sp[4]), num(&sp[5]));
            let _ = writeln!(
                md,
                "The open-loop floor (`spsc_floor`, the simplest bounded ring, paced the same way) had \
                 p50 = {s50:.0} ns and p99 = {s99:.0} ns at 1 M/s: fanlog (spin) is at **{:.1}×** its p50 \
                 and **{:.1}×** its p99.",
                num(&f[4]) / s50,
                f99 / s99
            );
        }
        if let Some(rt) = find("fanlog_roundtrip", "roundtrip") {
            let (r50, r99) = (num(&rt[4]), num(&rt[5]));
            let _ = writeln!(
                md,
                "Closed loop, like for like (`fanlog_roundtrip`: the ping-pong with a 64 B record \
                 through a `Spin` log forward): p50 = {r50:.0} ns, p99 = {r99:.0} ns → **{:.2}×** \
                 the ping-pong's p50 and **{:.2}×** its p99.",
                r50 / pp50,
                r99 / pp99
            );
        }
    }
    md
}

/// The slow-consumer section from `slow_consumer.tsv`.
fn slow_md(tsv: &str) -> String {
    let mut md = String::new();
    let mut header = String::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for line in tsv.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            header = h.to_string();
            continue;
        }
        if line.starts_with("scenario\t") || line.is_empty() {
            continue;
        }
        rows.push(line.split('\t').map(str::to_string).collect());
    }
    if rows.is_empty() {
        return "(no slow-consumer results)\n".to_string();
    }
    let h: Vec<&str> = header.split('\t').collect();
    let get = |k: &str| {
        h.iter()
            .position(|x| *x == k)
            .and_then(|i| h.get(i + 1))
            .copied()
            .unwrap_or("?")
    };
    let _ = writeln!(
        md,
        "1 producer offering {} records/s of 64 B for {} s → 4 consumers; consumer 3 reads at most a \
         tenth of that. Capacity {} records. `lost` = records accepted by the system that a \
         consumer never saw (after draining); `rejected` = appends refused (lost for every consumer). \
         Peak RSS is the child process's `VmHWM` (the `baseline` row is an idle child).\n",
        get("rate"),
        get("seconds"),
        get("cap")
    );
    let _ = writeln!(
        md,
        "| scenario | producer accepted/s | fast consumers read/s | slow consumer read/s | lost by slow | lost by fast (sum) | rejected | peak RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        if r.len() < 9 {
            continue;
        }
        let rss = r[8].parse::<f64>().unwrap_or(0.0) / 1024.0;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {rss:.1} MiB |",
            r[0], r[1], r[2], r[3], r[5], r[6], r[7]
        );
    }
    md
}

/// Go systems of `BenchmarkPeers` in display order: (name, display name).
const GO_SYSTEMS: &[(&str, &str)] = &[
    ("fanlog", "fanlog"),
    ("fanlog_view", "fanlog view"),
    ("fanlog_batch64", "fanlog batch64"),
    ("fanlog_writer", "fanlog writer"),
    ("hub", "fanlog hub"),
    ("chan", "channel per subscriber"),
    ("mutex_cond", "mutex + cond, bounded"),
    ("mutex_cond_unbounded", "mutex + cond, unbounded"),
];
/// The Go peers fanlog is counted against (equal capacities).
const GO_PEERS: &[&str] = &["chan", "mutex_cond"];
const GO_SUBS: &[usize] = &[1, 2, 4];

/// Go results: (system, payload, subscribers) -> records/s of each run, in
/// the order `go test -count` printed them.
type GoRates = BTreeMap<(String, usize, usize), Vec<f64>>;

/// Parses `go test -bench BenchmarkPeers` output: lines like
/// `BenchmarkPeers/fanlog/64B/subs=4-2  1000000  338.7 ns/op  2952180 records/s`.
fn parse_go(text: &str) -> GoRates {
    let mut rates = GoRates::new();
    for (name, rate) in go_metric(text, "BenchmarkPeers/", "records/s") {
        let parts: Vec<&str> = name.split('/').collect();
        let [system, payload, subs] = parts[..] else {
            continue;
        };
        let payload = payload.strip_suffix('B').and_then(|p| p.parse().ok());
        let subs = subs
            .strip_prefix("subs=")
            .map(|s| s.split('-').next().unwrap_or(s))
            .and_then(|s| s.parse().ok());
        if let (Some(payload), Some(subs)) = (payload, subs) {
            rates
                .entry((system.to_string(), payload, subs))
                .or_default()
                .push(rate);
        }
    }
    rates
}

/// `BenchmarkPingPong`'s round trips in ns, by system (every measurement).
fn parse_go_pingpong(text: &str) -> BTreeMap<String, Vec<f64>> {
    let mut trips: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (name, ns) in go_metric(text, "BenchmarkPingPong/", "ns/op") {
        let system = name.rsplit_once('-').map_or(name, |(s, _)| s);
        trips.entry(system.to_string()).or_default().push(ns);
    }
    trips
}

/// The (sub-benchmark name, value) of each `go test -bench` result line
/// whose name starts with `prefix`, for the metric named `unit`.
fn go_metric<'a>(
    text: &'a str,
    prefix: &'a str,
    unit: &'a str,
) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let mut fields = line.split_whitespace();
        let name = fields.next()?.strip_prefix(prefix)?;
        let fields: Vec<&str> = fields.collect();
        let value = fields
            .windows(2)
            .find(|w| w[1] == unit)
            .and_then(|w| w[0].parse::<f64>().ok())?;
        Some((name, value))
    })
}

/// fanlog's `system` / `peer` for each measurement of one cell (the k-th
/// of each, as `go test -count` printed them).
fn go_ratios(rates: &GoRates, system: &str, peer: &str, payload: usize, subs: usize) -> Vec<f64> {
    let get = |s: &str| rates.get(&(s.to_string(), payload, subs));
    match (get(system), get(peer)) {
        (Some(a), Some(b)) => a.iter().zip(b).map(|(x, y)| x / y).collect(),
        _ => Vec::new(),
    }
}

/// The Go section: the run's header, ratio tables and the rates.
fn go_md(text: &str) -> String {
    let rates = parse_go(text);
    if rates.is_empty() {
        return "(no Go results: `benches/run.sh` found no `go` toolchain, or the run failed)\n"
            .to_string();
    }
    let mut md = String::new();
    let header: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# ")).collect();
    if !header.is_empty() {
        let _ = writeln!(md, "```text\n{}\n```\n", header.join("\n"));
    }
    let runs = rates.values().map(Vec::len).max().unwrap_or(0);
    let peer_name = |p| display_in(GO_SYSTEMS, p);
    let (mut ahead, mut total, mut behind) = (0, 0, Vec::new());
    for (system, counted) in [
        ("fanlog", true),
        ("fanlog_batch64", false),
        ("fanlog_writer", false),
        ("hub", false),
    ] {
        let _ = writeln!(
            md,
            "Ratios **{} / peer** of records appended per second (`go test -count {runs}` measures \
             each cell {runs} times in a row; the median of the ratios of the k-th measurements; > 1 \
             means {} is ahead; **bold** where it is behind){}.\n",
            peer_name(system),
            peer_name(system),
            if counted {
                ""
            } else {
                "; a variant, not counted in the verdict"
            }
        );
        let mut head = "| subscribers | payload |".to_string();
        let mut rule = "|---|---|".to_string();
        for peer in GO_PEERS.iter().chain(&["mutex_cond_unbounded"]) {
            let _ = write!(head, " {} |", peer_name(peer));
            rule.push_str("---:|");
        }
        let _ = writeln!(md, "{head}\n{rule}");
        for &subs in GO_SUBS {
            for &payload in PAYLOADS {
                let mut row = format!("| {subs} | {} |", fmt_payload(payload));
                for peer in GO_PEERS.iter().chain(&["mutex_cond_unbounded"]) {
                    let r = go_ratios(&rates, system, peer, payload, subs);
                    if r.is_empty() {
                        row.push_str(" — |");
                        continue;
                    }
                    let m = median(r);
                    let _ = write!(row, " {} |", fmt_ratio(m));
                    if counted && GO_PEERS.contains(peer) {
                        total += 1;
                        if m > 1.0 {
                            ahead += 1;
                        } else {
                            behind.push(format!(
                                "{subs} subscriber(s), {}: {} {m:.2}×",
                                fmt_payload(payload),
                                peer_name(peer)
                            ));
                        }
                    }
                }
                let _ = writeln!(md, "{row}");
            }
        }
        md.push('\n');
    }
    let _ =
        writeln!(
        md,
        "fanlog (one `Append` per record) is ahead in **{ahead} of {total}** comparisons with the \
         peers of equal capacity{}{}\n",
        if behind.is_empty() { "." } else { ". Behind in: " },
        behind.join("; ")
    );
    let _ = writeln!(
        md,
        "Records appended per second (the median over the runs; each is delivered to every \
         subscriber).\n"
    );
    let mut head = "| subscribers | payload |".to_string();
    let mut rule = "|---|---|".to_string();
    for (_, d) in GO_SYSTEMS {
        let _ = write!(head, " {d} |");
        rule.push_str("---:|");
    }
    let _ = writeln!(md, "{head}\n{rule}");
    for &subs in GO_SUBS {
        for &payload in PAYLOADS {
            let mut row = format!("| {subs} | {} |", fmt_payload(payload));
            for (s, _) in GO_SYSTEMS {
                match rates.get(&(s.to_string(), payload, subs)) {
                    Some(v) if !v.is_empty() => {
                        let _ = write!(row, " {} |", fmt_rate(median(v.clone())));
                    }
                    _ => row.push_str(" — |"),
                }
            }
            let _ = writeln!(md, "{row}");
        }
    }
    let trips = parse_go_pingpong(text);
    if !trips.is_empty() {
        let _ = writeln!(
            md,
            "\nRound trips between two goroutines (`BenchmarkPingPong`: each side has caught up \
             and parks before every message, so a round trip is two parks and two wake-ups; the \
             median over the runs, lower is better).\n\n| system | round trip |\n|---|---:|"
        );
        for (system, ns) in &trips {
            let name = match system.as_str() {
                "fanlog" => "fanlog (a log each way, `Append` + `Next`)",
                "chan" => "channels (one each way)",
                other => other,
            };
            let _ = writeln!(md, "| {name} | {:.2} µs |", median(ns.clone()) / 1e3);
        }
    }
    md
}

/// The plot: records delivered per second against consumers, one panel per
/// payload, log scale.
fn svg(rates: &Rates) -> String {
    let panel_w = 300.0;
    let panel_h = 250.0;
    let (ml, mt) = (60.0, 50.0);
    let gap = 30.0;
    let width = ml + 3.0 * panel_w + 2.0 * gap + 20.0;
    let height = mt + panel_h + 110.0;
    let colors = [
        "#d62728", "#ff7f0e", "#e377c2", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f",
    ];
    let groups = [
        ("peers_1p_1c", 1usize),
        ("peers_1p_2c", 2),
        ("peers_1p_4c", 4),
    ];
    let delivered = |s: &str, p: usize, g: &str, c: usize| {
        rates
            .get(&(g.to_string(), s.to_string(), p))
            .map(|r| r * c as f64)
    };
    // Shared log scale over every value.
    let mut lo = f64::MAX;
    let mut hi = 0f64;
    for (s, _) in SYSTEMS {
        for &p in PAYLOADS {
            for (g, c) in groups {
                if let Some(v) = delivered(s, p, g, c) {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
        }
    }
    if hi == 0.0 {
        lo = 1e5;
        hi = 1e8;
    }
    let (dlo, dhi) = (lo.log10().floor(), hi.log10().ceil());
    let y = |v: f64| mt + panel_h - (v.log10() - dlo) / (dhi - dlo) * panel_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="white"/><text x="{}" y="22" font-size="15" text-anchor="middle">Records delivered per second (appended × consumers), 1 producer, blocking waits, log scale</text>"##,
        width / 2.0
    );
    for (k, &p) in PAYLOADS.iter().enumerate() {
        let x0 = ml + k as f64 * (panel_w + gap);
        let x = |c: usize| {
            x0 + 30.0
                + match c {
                    1 => 0.0,
                    2 => 0.5,
                    _ => 1.0,
                } * (panel_w - 60.0)
        };
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{mt}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="middle" font-size="13">{} payload</text>"##,
            x0 + panel_w / 2.0,
            mt - 8.0,
            fmt_payload(p)
        );
        // Decade grid lines.
        let mut d = dlo;
        while d <= dhi {
            let v = 10f64.powf(d);
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/>"##,
                x0 + panel_w
            );
            if k == 0 {
                let label = if v >= 1e6 {
                    format!("{}M", v / 1e6)
                } else {
                    format!("{}k", v / 1e3)
                };
                let _ = writeln!(
                    s,
                    r##"<text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
                    x0 - 6.0,
                    yy + 4.0
                );
            }
            d += 1.0;
        }
        for c in [1usize, 2, 4] {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{}" text-anchor="middle">{c}</text>"##,
                x(c),
                mt + panel_h + 16.0
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle">consumers</text>"##,
            x0 + panel_w / 2.0,
            mt + panel_h + 32.0
        );
        for (i, (sys, _)) in SYSTEMS.iter().enumerate() {
            let pts: Vec<(f64, f64)> = groups
                .iter()
                .filter_map(|&(g, c)| delivered(sys, p, g, c).map(|v| (x(c), y(v))))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let width = if sys.starts_with("fanlog") { 3 } else { 2 };
            let dash = if *sys == "fanlog_batch16" || *sys == "fanlog_default" {
                r#" stroke-dasharray="6 3""#
            } else {
                ""
            };
            let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = writeln!(
                s,
                r##"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width}"{dash}/>"##,
                path.join(" "),
                colors[i % colors.len()]
            );
            for (a, b) in pts {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{a:.1}" cy="{b:.1}" r="3" fill="{}"/>"##,
                    colors[i % colors.len()]
                );
            }
        }
    }
    // Legend.
    let ly = mt + panel_h + 60.0;
    for (i, (_, d)) in SYSTEMS.iter().enumerate() {
        let lx = ml + i as f64 * 118.0;
        let _ = writeln!(
            s,
            r##"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{d}</text>"##,
            lx + 22.0,
            colors[i % colors.len()],
            lx + 27.0,
            ly + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{ml}" y="{}" fill="#555">Data: cargo bench --bench peers, run by benches/run.sh (the median over its passes); see BENCHMARKS.md for the machine, the load and the method.</text>"##,
        ly + 30.0
    );
    s.push_str("</svg>\n");
    s
}

/// Replaces the text between the markers of `name` in `doc`.
fn splice(doc: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- BEGIN generated:{name} -->");
    let end = format!("<!-- END generated:{name} -->");
    match (doc.find(&begin), doc.find(&end)) {
        (Some(b), Some(e)) if b < e => format!(
            "{}{begin}\n{}{}",
            &doc[..b],
            body.trim_end().to_string() + "\n",
            &doc[e..]
        ),
        _ => {
            eprintln!("no markers for {name}: appending");
            format!("{doc}\n{begin}\n{}\n{end}\n", body.trim_end())
        }
    }
}

fn main() {
    let mut criterion = PathBuf::from("target/criterion");
    let mut results = PathBuf::from("target/bench-results");
    let mut md_path = PathBuf::from("BENCHMARKS.md");
    let mut svg_path = PathBuf::from("docs/bench/throughput.svg");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next().map(PathBuf::from).unwrap_or_else(|| {
                eprintln!("{a} needs a value\n\n{USAGE}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--criterion" => criterion = value(),
            "--results" => results = value(),
            "--md" => md_path = value(),
            "--svg" => svg_path = value(),
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            _ => {
                eprintln!("unknown option {a:?}\n\n{USAGE}");
                std::process::exit(2)
            }
        }
    }
    let read = |name: &str| fs::read_to_string(results.join(name)).unwrap_or_default();
    let passes = read_passes(&criterion, &results);
    let rates = median_rates(&passes);
    eprintln!(
        "{} throughput results, {} pass(es)",
        rates.len(),
        passes.len()
    );

    let mut doc = fs::read_to_string(&md_path).unwrap_or_else(|_| "# Benchmarks\n".to_string());
    let machine = read("machine.txt");
    doc = splice(
        &doc,
        "machine",
        &format!("```text\n{}```\n", machine.trim_end().to_string() + "\n"),
    );
    doc = splice(
        &doc,
        "throughput",
        &throughput_md(&passes, &read("peers_lag.tsv")),
    );
    doc = splice(&doc, "latency", &latency_md(&read("latency.tsv")));
    doc = splice(&doc, "slow", &slow_md(&read("slow_consumer.tsv")));
    doc = splice(&doc, "go", &go_md(&read("go_peers.txt")));
    fs::write(&md_path, doc).expect("write markdown");
    if let Some(dir) = svg_path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    fs::write(&svg_path, svg(&rates)).expect("write svg");
    eprintln!("wrote {} and {}", md_path.display(), svg_path.display());
}
