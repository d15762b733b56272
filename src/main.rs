//! The `spike-pipe` command line: parses arguments, calls the library, maps errors to exit codes
//! (0 success, 1 a stage failed, 2 bad input or configuration, 3 an operational failure).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use spike_pipe::datasets::cifar10;
use spike_pipe::engine::exec::NoHooks;
use spike_pipe::engine::failure::is_operational;
use spike_pipe::engine::key::NumericEnv;
use spike_pipe::engine::remote::{RemoteConfig, RemoteHooks};
use spike_pipe::engine::runs::{self, Outcome};
use spike_pipe::engine::slurm::{self, JobResults, JobSettings, JobSpec};
use spike_pipe::engine::{
    self, Executor, Locations, Project, ReproOptions, Status, audit, diff, gc,
};
use spike_pipe::nn::backend::BackendKind;
use spike_pipe::stages::figure::{Listing, Verdict};
use spike_pipe::{bench, report, stages};

// Large tensors are allocated and freed every step; glibc returns them to the OS and faults the
// pages in again each time (half of a CNN epoch). mimalloc keeps and reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "spike-pipe",
    version,
    about = "Reproduce 'Loss Spike in Training Neural Networks' as a cached pipeline",
    after_help = "Examples:
  spike-pipe repro                         every figure of the default profile (quick)
  spike-pipe repro fig3_2 --dry            what figure fig3_2 would run, and why
  spike-pipe --profile paper repro fig3_1ghi --backend cuda
  spike-pipe status -q || spike-pipe repro  rerun only when something is stale
  spike-pipe verify --md                   the claim checks of the latest run as a table
  spike-pipe kinds train                   the parameters of the train kind
  spike-pipe gc --dry --keep-runs 5        what freeing the cache would remove"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// The pipeline file.
    #[arg(long, global = true, default_value = "pipeline.yaml")]
    pipeline: PathBuf,
    /// Profile of pipeline.yaml to use (smoke, quick, paper); default: the file's default_profile.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Cache directory (default: $SPIKE_CACHE, else .spike/cache beside the pipeline file).
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
    /// Outputs directory (default: outputs/ beside the pipeline file).
    #[arg(long, global = true)]
    outputs: Option<PathBuf>,
    /// A local CIFAR-10 copy (directory of .bin batches or one .bin file).
    #[arg(long, global = true, env = cifar10::ENV_DIR)]
    cifar10_dir: Option<PathBuf>,
    /// Remote cache URL (file:///dir, s3://bucket/prefix, gs://, az://, http(s)://); overrides
    /// `cache.remote` of pipeline.yaml.
    #[arg(long, global = true, env = "SPIKE_REMOTE")]
    remote: Option<String>,
    /// Set a parameter for this command: `-S train.fig3_1.lr=0.04`; a list sweeps it
    /// (`-S train.fig5_2.lr=[0.01,0.02]`); a matrix group's name sets every member. Repeatable.
    #[arg(
        short = 'S',
        long = "set",
        global = true,
        value_name = "STAGE.PARAM=VALUE"
    )]
    set: Vec<String>,
    /// Numeric backend: native (spike-pipe's own CPU path, default), flex (burn's autodiff on
    /// the CPU, the reference), tch or cuda when compiled in.
    #[arg(long, global = true, default_value = "native", value_parser = ["native", "flex", "tch", "cuda"])]
    backend: String,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum RunsCommand {
    /// One run: its settings, every stage's outcome, its claim checks.
    Show { id: String },
}

#[derive(Subcommand)]
enum Command {
    /// Run every stale stage (or only what TARGETS need) and publish the figure tables.
    Repro(ReproArgs),
    /// List stale stages and why they are stale.
    Status {
        /// One JSON object per stage (stage, stale, reason).
        #[arg(long)]
        json: bool,
        /// Print nothing; exit 1 when a stage is stale (as `dvc status -q`).
        #[arg(short, long)]
        quiet: bool,
    },
    /// List the stage kinds (with one KIND: its parameters, types, defaults, ranges and docs).
    Kinds { kind: Option<String> },
    /// List the figures of the pipeline: id, title, stage and kind.
    Figures,
    /// Rebuild a past run's figures and report from the cache into outputs/runs/<ID>/.
    Report {
        #[arg(long, default_value = "latest")]
        run: String,
    },
    /// List the runs, newest first (`runs show ID` for one run).
    Runs {
        #[command(subcommand)]
        show: Option<RunsCommand>,
        /// JSON rows.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV rows with a header.
        #[arg(long)]
        csv: bool,
    },
    /// Print a shell completion script: `spike-pipe completions bash > /etc/bash_completion.d/spike-pipe`.
    Completions { shell: clap_complete::Shell },
    /// Print the stage graph.
    Dag {
        /// Graphviz output.
        #[arg(long)]
        dot: bool,
        /// JSON: each stage with its kind, matrix values and needs by role.
        #[arg(long, conflicts_with = "dot")]
        json: bool,
    },
    /// (Slurm jobs) Compute the stage of a job description (JSON) into the cache.
    #[command(hide = true)]
    RunJob { spec: PathBuf },
    /// Remove cache entries that neither the current pipeline nor a kept run needs, stale
    /// temporary directories and orphaned scratch state (never what another process holds).
    Gc {
        /// Only say what would be removed.
        #[arg(long)]
        dry: bool,
        /// Keep the entries of only the newest N runs (default: of every run).
        #[arg(long)]
        keep_runs: Option<usize>,
        /// Remove only entries created longer ago than this (30d, 12h, 90m, 45s).
        #[arg(long)]
        older_than: Option<String>,
    },
    /// Upload this pipeline's cache entries to the remote cache (only what is missing there).
    Push(SyncArgs),
    /// Download this pipeline's missing cache entries from the remote cache.
    Pull(PullArgs),
    /// Recompute a random sample of cached entries (local or pulled) in a scratch directory and
    /// compare every file with the entry's: by blake3 on the native backend (bit-reproducible),
    /// number by number within --rtol/--atol on the others. An entry that differs is replaced by
    /// the recomputation. Exit 0: every audited entry reproduced, 1: one differs, 2: bad input.
    Audit(AuditArgs),
    /// Compare two runs: stage keys, published tables (with tolerances), headline metrics.
    /// Exit code 0: same within the tolerances, 1: different, 2: error.
    Diff {
        /// Run id (outputs/runs/) or outputs/project directory; default: the previous run.
        a: Option<String>,
        /// Run id or directory; default: the latest run.
        b: Option<String>,
        /// Relative tolerance.
        #[arg(long, default_value_t = 1e-9)]
        rtol: f64,
        /// Absolute tolerance.
        #[arg(long, default_value_t = 1e-12)]
        atol: f64,
        /// Markdown.
        #[arg(long)]
        md: bool,
        /// JSON.
        #[arg(long)]
        json: bool,
        /// Also write a page to DIR: every figure that differs drawn with both runs overlaid
        /// (PNG and SVG), the changes above, the numbers below.
        #[arg(long, value_name = "DIR")]
        html: Option<PathBuf>,
    },
    /// Print the claim checks of a run (default: the latest).
    Verify {
        /// A run id from outputs/runs/ (or `latest`).
        #[arg(long, default_value = "latest")]
        run: String,
        /// Markdown table.
        #[arg(long)]
        md: bool,
        /// The claims files as JSON (quote, source, criterion, verdict, measured of each claim).
        #[arg(long, conflicts_with = "md")]
        json: bool,
        /// Exit with 1 when a claim is not supported ("not tested" and "not reproduced" do not fail).
        #[arg(long)]
        strict: bool,
        /// Instead of the claims: hash every file of every cache entry again and report each
        /// that no longer matches its manifest, with its stage and file (exit 1 if any).
        #[arg(long, conflicts_with_all = ["md", "json", "strict"])]
        cache: bool,
    },
    /// Time the numerical core on this machine (the benchmark net, lambda_max, the CNN).
    Bench {
        /// Epochs of the benchmark net.
        #[arg(long, default_value_t = 20_000)]
        epochs: usize,
        /// Skip the CNN benchmarks (which take a few minutes).
        #[arg(long)]
        no_cnn: bool,
        /// Eigenpairs of the CNN Lanczos benchmark.
        #[arg(long, default_value_t = 20)]
        lanczos_k: usize,
        /// Stages of the engine benchmark (`repro` from an empty cache, then `repro --dry`,
        /// `status` and a cached `repro`); 0 skips it.
        #[arg(long, default_value_t = 10_000)]
        engine_stages: usize,
    },
}

#[derive(Args)]
struct ReproArgs {
    /// Stages, matrix groups or figure ids (e.g. fig3_2); default: everything.
    targets: Vec<String>,
    /// Print the plan and the reasons without running anything.
    #[arg(long)]
    dry: bool,
    /// Recompute the targets even if cached.
    #[arg(long)]
    force: bool,
    /// Also run the stages downstream of the targets.
    #[arg(long)]
    downstream: bool,
    /// With --dry: the plan as JSON (stage, key, reasons of each stage to run).
    #[arg(long, requires = "dry")]
    json: bool,
    /// Stages run in parallel (default: number of cores).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// A name for this run (in its record and the `runs` listing).
    #[arg(long)]
    name: Option<String>,
    /// Stop at the first failed stage instead of finishing the branches that do not need it.
    #[arg(long)]
    fail_fast: bool,
    /// Finish the branches a failed stage does not feed (the default; kept for scripts).
    #[arg(long, conflicts_with = "fail_fast")]
    keep_going: bool,
    /// Fetch a stage's entry from the remote cache before computing it.
    #[arg(long)]
    pull: bool,
    /// Upload what this run computes to the remote cache.
    #[arg(long)]
    push: bool,
    /// Where stages run: local (default) or slurm (overrides `executor.kind` of pipeline.yaml).
    #[arg(long, value_parser = ["local", "slurm"])]
    executor: Option<String>,
}

#[derive(Args)]
struct AuditArgs {
    /// Stages, matrix groups or figure ids, with everything upstream of them; default: every
    /// cached entry of the pipeline.
    targets: Vec<String>,
    #[command(flatten)]
    sample: SampleArgs,
    /// Entries recomputed in parallel (default: number of cores).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// The report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SampleArgs {
    /// The share of the entries to recompute, in (0, 1] (at least one entry is).
    #[arg(long, default_value_t = 0.1, value_parser = share)]
    sample: f64,
    /// Seed of the sample (default: a new one each time, printed); the same seed picks the
    /// same entries.
    #[arg(long)]
    seed: Option<u64>,
    /// Compare numbers within this relative tolerance instead of files by hash (default on
    /// backends that are not bit-reproducible: 1e-6).
    #[arg(long)]
    rtol: Option<f64>,
    /// Absolute tolerance for the same comparison (default there: 1e-9).
    #[arg(long)]
    atol: Option<f64>,
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!(
            "`{s}` is not a share in (0, 1]: give for example 0.1 for a tenth of the entries"
        )),
    }
}

#[derive(Args)]
struct PullArgs {
    #[command(flatten)]
    sync: SyncArgs,
    /// Then recompute this share of the entries just pulled (as `spike-pipe audit --sample`);
    /// exit 1 if one differs.
    #[arg(long, value_name = "SHARE", value_parser = share)]
    audit: Option<f64>,
    /// Seed of the audit's sample.
    #[arg(long, requires = "audit")]
    seed: Option<u64>,
}

#[derive(Args)]
struct SyncArgs {
    /// Every entry (local ones for push, remote ones for pull), not only this pipeline's.
    #[arg(long)]
    all: bool,
    /// Transfers in parallel.
    #[arg(short, long, default_value_t = 8)]
    jobs: usize,
    /// The transfer's counts as JSON (entries, blobs, bytes, skipped).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    // SAFETY: at startup, before any thread; restores the default action (end the process).
    #[cfg(unix)]
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let g = &cli.global;
    let result = match cli.command {
        Command::Repro(a) => repro(g, a),
        Command::Status { json, quiet } => status(g, json, quiet),
        Command::Kinds { kind } => kinds(kind.as_deref()),
        Command::Figures => figures(g),
        Command::Report { run } => report_run(g, &run),
        Command::Runs { show, json, csv } => runs_list(g, show, json, csv),
        Command::Completions { shell } => completions(shell),
        Command::Dag { dot, json } => dag(g, dot, json),
        Command::RunJob { spec } => run_job(g, &spec),
        Command::Gc {
            dry,
            keep_runs,
            older_than,
        } => collect_garbage(g, dry, keep_runs, older_than.as_deref()),
        Command::Push(a) => sync(g, false, &a).map(|_| ExitCode::SUCCESS),
        Command::Pull(a) => pull(g, &a),
        Command::Audit(a) => run_audit(g, &a),
        Command::Diff {
            a,
            b,
            rtol,
            atol,
            md,
            json,
            html,
        } => compare(g, a.as_deref(), b.as_deref(), (rtol, atol), md, json, html),
        Command::Verify { cache: true, .. } => verify_cache(g),
        Command::Verify {
            run,
            md,
            json,
            strict,
            ..
        } => verify(g, &run, md, json, strict),
        Command::Bench {
            epochs,
            no_cnn,
            lanczos_k,
            engine_stages,
        } => run_bench(
            g,
            bench::Options {
                epochs,
                cnn: !no_cnn,
                lanczos_k,
                engine_stages,
            },
        ),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(if is_operational(&e) { 3 } else { 2 })
    })
}

/// The crates whose logs `-v` and `-vv` show.
const CRATES: [&str; 5] = [
    "spike_pipe",
    "spike_config",
    "spike_engine",
    "spike_nn",
    "spike_science",
];

fn init_logging(verbose: u8) {
    // -v: stage timings, remote transfers, lock waits; -vv: every cache decision too.
    // RUST_LOG overrides (e.g. RUST_LOG=object_store=debug for the remote's requests).
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let default = format!(
        "warn,{}",
        CRATES.map(|c| format!("{c}={default}")).join(",")
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn locations(g: &Global) -> Locations {
    let mut loc = Locations::resolve(&g.pipeline, g.cache_dir.clone(), g.outputs.clone());
    if let Some(dir) = &g.cifar10_dir {
        loc.sources.insert("cifar10".into(), dir.clone());
    }
    loc
}

fn project(g: &Global) -> Result<Project> {
    load_project(&locations(g), g.profile.as_deref(), &g.set, &g.backend)
}

fn load_project(
    loc: &Locations,
    profile: Option<&str>,
    set: &[String],
    backend: &str,
) -> Result<Project> {
    let backend = BackendKind::parse(backend)?;
    let env: NumericEnv = [("backend".to_string(), backend.name().to_string())].into();
    let overrides = set
        .iter()
        .map(|s| spike_pipe::config::Override::parse(s).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    Project::load(loc, profile, &overrides, stages::registry(), env)
}

fn repro(g: &Global, a: ReproArgs) -> Result<ExitCode> {
    let project = project(g)?;
    let cfg = RemoteConfig::of(&project, g.remote.as_deref())?;
    let (pull, push) = (a.pull || cfg.pull, a.push || cfg.push);
    let job = JobSettings {
        backend: g.backend.clone(),
        overrides: g.set.clone(),
        remote: cfg.remote.clone(),
        pull,
        push,
    };
    let opts = ReproOptions {
        executor: Executor::configure(&project, a.executor.as_deref(), &job)?,
        targets: a.targets,
        dry: a.dry,
        force: a.force,
        downstream: a.downstream,
        jobs: a.jobs.unwrap_or_else(cores),
        keep_going: !a.fail_fast,
        command: std::env::args().collect(),
        name: a.name,
    };
    let remote = (pull || push).then(|| cfg.open()).transpose()?;
    let hooks = remote
        .as_ref()
        .map(|r| RemoteHooks::new(r, &project.cache, pull, push));
    let result = match &hooks {
        Some(h) => engine::repro(&project, &opts, h)?,
        None => engine::repro(&project, &opts, &NoHooks)?,
    };
    if a.dry {
        if a.json {
            println!("{}", serde_json::to_string_pretty(&result.to_run)?);
        } else if result.to_run.is_empty() {
            println!("nothing to run: every selected stage is up to date");
        } else {
            result.to_run.iter().for_each(|l| println!("{l}"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let record = result.record.as_ref().expect("a run record");
    for s in record.stages.iter().filter(|s| s.error.is_some()) {
        println!(
            "{:9} {}: {}",
            s.outcome,
            s.name,
            s.error.as_deref().unwrap_or("")
        );
    }
    let cache_root = project.cache.root();
    let page = report::write_html(&project.outputs, cache_root, record)?;
    let claims = report::claims(&project.outputs, cache_root, record, true)?;
    if !claims.is_empty() {
        println!("claim checks:\n{}", report::claims_table(&claims, false));
    }
    println!("report: {}", page.display());
    println!("{record}");
    if record.count(Outcome::Computed) == 0 && record.ok {
        println!("nothing to do: all stages up to date (0 stages run)");
    }
    let push_errors = hooks.map_or(0, |h| h.errors.lock().expect("lock").len());
    if push_errors > 0 {
        eprintln!(
            "error: {push_errors} entries could not be pushed to the remote cache (see above)"
        );
        return Ok(ExitCode::from(1));
    }
    if record.stages.iter().any(|s| s.operational) {
        eprintln!(
            "error: a stage failed because of the machine (see above: a full disk, a lost connection); the same run may succeed once that is fixed"
        );
        return Ok(ExitCode::from(3));
    }
    Ok(exit(record.ok))
}

fn status(g: &Global, json: bool, quiet: bool) -> Result<ExitCode> {
    let status = Status::of(&project(g)?);
    if quiet {
        return Ok(exit(status.stale() == 0));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&status.stages)?);
    } else {
        print!("{status}");
    }
    Ok(ExitCode::SUCCESS)
}

fn kinds(kind: Option<&str>) -> Result<ExitCode> {
    print!("{}", stages::registry().listing(kind)?);
    Ok(ExitCode::SUCCESS)
}

fn figures(g: &Global) -> Result<ExitCode> {
    print!("{}", Listing(&project(g)?));
    Ok(ExitCode::SUCCESS)
}

fn report_run(g: &Global, run: &str) -> Result<ExitCode> {
    let loc = locations(g);
    let record = runs::find(&loc.outputs, run)?;
    let (path, missing) = report::rebuild(&loc.outputs, &loc.cache, &record)?;
    for m in &missing {
        println!("not rebuilt: {m}: its cache entry was removed (spike-pipe gc)");
    }
    println!("report: {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn runs_list(g: &Global, show: Option<RunsCommand>, json: bool, csv: bool) -> Result<ExitCode> {
    let loc = locations(g);
    if let Some(RunsCommand::Show { id }) = show {
        let r = runs::find(&loc.outputs, &id)?;
        let latest = runs::is_latest(&loc.outputs, &r);
        print!("{}", runs::Details(&r));
        match report::claims(&loc.outputs, &loc.cache, &r, latest) {
            Ok(c) => print!("{}", report::claims_table(&c, false)),
            Err(e) => println!("claims: {e:#}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = report::run_summaries(&loc.outputs, &loc.cache)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if csv {
        println!("{}", report::RunSummary::CSV_HEADER);
        rows.iter().for_each(|r| println!("{}", r.csv()));
    } else {
        rows.iter().for_each(|r| println!("{r}"));
    }
    Ok(ExitCode::SUCCESS)
}

fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    use clap::CommandFactory;
    let mut out = std::io::stdout();
    clap_complete::generate(shell, &mut Cli::command(), "spike-pipe", &mut out);
    Ok(ExitCode::SUCCESS)
}

fn dag(g: &Global, dot: bool, json: bool) -> Result<ExitCode> {
    let pipeline = project(g)?.pipeline;
    if json {
        let rows = engine::dag::json(&pipeline);
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if dot {
        print!("{}", engine::dag::dot(&pipeline));
    } else {
        print!("{}", engine::dag::text(&pipeline));
    }
    Ok(ExitCode::SUCCESS)
}

/// A Slurm job: loads the project its description names (not this command line's) and
/// computes its stages one after the other, a failed one failing only itself; writes each
/// stage's result beside the description (`JobResults`) and exits with 1 if one failed. The
/// remote URL comes from the environment.
fn run_job(g: &Global, spec: &Path) -> Result<ExitCode> {
    let job = JobSpec::read(spec)?;
    let p = &job.project;
    let mut loc = Locations::resolve(
        &p.pipeline,
        Some(p.cache_dir.clone()),
        Some(p.outputs.clone()),
    );
    loc.sources = p.sources.clone();
    let project = load_project(&loc, Some(&p.profile), &p.overrides, &p.backend)?;
    let (pull, push) = (p.pull, p.push);
    let remote = (pull || push)
        .then(|| RemoteConfig::of(&project, g.remote.as_deref())?.open())
        .transpose()?;
    let hooks = remote
        .as_ref()
        .map(|r| RemoteHooks::new(r, &project.cache, pull, push));
    let mut results = JobResults::new();
    for s in &job.stages {
        let computed =
            match &hooks {
                Some(h) => {
                    // Only this stage's push errors are its own (the hooks serve the whole job).
                    let before = h.errors.lock().expect("lock").len();
                    engine::run_stage(&project, &s.stage, &s.key, s.force, h).and_then(|record| {
                        match h.errors.lock().expect("lock").get(before) {
                            Some(e) => anyhow::bail!("{e}"),
                            None => Ok(record),
                        }
                    })
                }
                None => engine::run_stage(&project, &s.stage, &s.key, s.force, &NoHooks),
            };
        let error = match computed {
            Ok(record) => {
                println!("{}: {:?} ({})", record.name, record.outcome, s.key);
                None
            }
            Err(e) => {
                eprintln!("error: {}: {e:#}", s.stage);
                Some(format!("{e:#}"))
            }
        };
        results.insert(s.stage.clone(), error);
        let path = slurm::results_path(spec);
        engine::cache::write_atomic(&path, serde_json::to_string_pretty(&results)?.as_bytes())?;
    }
    Ok(exit(results.values().all(Option::is_none)))
}

fn collect_garbage(
    g: &Global,
    dry: bool,
    keep_runs: Option<usize>,
    older_than: Option<&str>,
) -> Result<ExitCode> {
    let opts = gc::GcOptions {
        dry,
        keep_runs,
        older_than: older_than.map(gc::parse_age).transpose()?,
    };
    println!("{}", gc::gc(&project(g)?, &opts)?);
    Ok(ExitCode::SUCCESS)
}

fn sync(g: &Global, pull: bool, a: &SyncArgs) -> Result<Project> {
    let project = project(g)?;
    let remote = RemoteConfig::of(&project, g.remote.as_deref())?.open()?;
    let t = engine::remote::sync(&project, &remote, pull, a.all, a.jobs)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        println!("{t}");
    }
    Ok(project)
}

fn pull(g: &Global, a: &PullArgs) -> Result<ExitCode> {
    let Some(share) = a.audit else {
        sync(g, true, &a.sync)?;
        return Ok(ExitCode::SUCCESS);
    };
    let before: BTreeSet<String> = locations_cache_keys(g)?;
    let project = sync(g, true, &a.sync)?;
    let pulled: BTreeSet<String> = project
        .cache
        .keys()?
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    let sample = SampleArgs {
        sample: share,
        seed: a.seed,
        rtol: None,
        atol: None,
    };
    audit_entries(
        g,
        &project,
        vec![],
        Some(pulled),
        &sample,
        None,
        a.sync.json,
    )
}

fn locations_cache_keys(g: &Global) -> Result<BTreeSet<String>> {
    let cache = engine::cache::Cache::open(&locations(g).cache)?;
    Ok(cache.keys()?.into_iter().collect())
}

fn run_audit(g: &Global, a: &AuditArgs) -> Result<ExitCode> {
    let project = project(g)?;
    audit_entries(
        g,
        &project,
        a.targets.clone(),
        None,
        &a.sample,
        a.jobs,
        a.json,
    )
}

fn audit_entries(
    g: &Global,
    project: &Project,
    targets: Vec<String>,
    only: Option<BTreeSet<String>>,
    s: &SampleArgs,
    jobs: Option<usize>,
    json: bool,
) -> Result<ExitCode> {
    let backend = BackendKind::parse(&g.backend)?;
    let tolerance = match (s.rtol, s.atol) {
        (None, None) if backend.bit_reproducible() => None,
        (rtol, atol) => Some(audit::Tolerance {
            rtol: rtol.unwrap_or(1e-6),
            atol: atol.unwrap_or(1e-9),
        }),
    };
    let opts = audit::AuditOptions {
        targets,
        only,
        sample: s.sample,
        seed: s.seed,
        tolerance,
        jobs: jobs.unwrap_or_else(cores),
    };
    let report = audit::audit(project, &opts)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(exit(!report.differs()))
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1)
}

fn compare(
    g: &Global,
    a: Option<&str>,
    b: Option<&str>,
    (rtol, atol): (f64, f64),
    md: bool,
    json: bool,
    html: Option<PathBuf>,
) -> Result<ExitCode> {
    let loc = locations(g);
    let cache = engine::cache::Cache::open(&loc.cache)?;
    let (sa, sb) = diff::sides(&loc.outputs, &cache, a, b)?;
    let headline =
        |name: &str, x: Option<&Path>, y: Option<&Path>| report::headline(name, x, y, rtol, atol);
    let d = diff::diff(&sa, &sb, rtol, atol, &headline)?;
    if let Some(dir) = &html {
        let page = report::diff_html(&d, &sa, &sb, dir)?;
        eprintln!("diff page: {}", page.display());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", diff::render(&d, md));
    }
    Ok(exit(!d.differs()))
}

fn verify(g: &Global, run: &str, md: bool, json: bool, strict: bool) -> Result<ExitCode> {
    let loc = locations(g);
    let record = runs::find(&loc.outputs, run)?;
    let latest = runs::is_latest(&loc.outputs, &record);
    let claims = report::claims(&loc.outputs, &loc.cache, &record, latest)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&claims)?);
    } else {
        print!("{}", report::claims_table(&claims, md));
    }
    let summary = format!(
        "{} (run {}, profile {})",
        report::claims_summary(&claims),
        record.run_id,
        record.profile
    );
    // JSON on stdout stays parseable.
    if json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    let failed = claims
        .iter()
        .flat_map(|c| &c.claims)
        .any(|c| c.verdict == Verdict::NotSupported);
    Ok(exit(!(strict && failed)))
}

fn verify_cache(g: &Global) -> Result<ExitCode> {
    let loc = locations(g);
    let cache = engine::cache::Cache::open(&loc.cache)?;
    let started = std::time::Instant::now();
    let check = cache.verify_all()?;
    for (key, stage, why) in &check.corrupt {
        println!("CORRUPT {stage} (entry {key}): {why}");
    }
    println!(
        "{} entries, {} files, {:.1} MB hashed again in {:.2} s: {}",
        check.entries,
        check.files,
        check.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        if check.corrupt.is_empty() {
            "every file matches its manifest".to_string()
        } else {
            format!(
                "{} corrupt (the next repro recomputes them)",
                check.corrupt.len()
            )
        }
    );
    Ok(exit(check.corrupt.is_empty()))
}

fn run_bench(g: &Global, opts: bench::Options) -> Result<ExitCode> {
    let loc = locations(g);
    let backend = BackendKind::parse(&g.backend)?;
    backend.ensure_usable()?;
    let cifar = cifar10::locate(
        loc.sources.get("cifar10").map(PathBuf::as_path),
        None,
        &loc.data,
    );
    bench::run(&opts, &cifar, backend)?;
    Ok(ExitCode::SUCCESS)
}
