//! The `spike-pipe` command line: parses arguments, calls the library, maps errors to exit codes
//! (0 success, 1 a stage failed, 2 bad input or configuration).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use spike_pipe::engine::context::NumericEnv;
use spike_pipe::engine::diff;
use spike_pipe::engine::exec::NoHooks;
use spike_pipe::engine::remote::{Remote, RemoteConfig, RemoteHooks};
use spike_pipe::engine::runs::Outcome;
use spike_pipe::engine::slurm::{ExecutorConfig, JobCommand, Slurm};
use spike_pipe::engine::{self, Executor, Locations, Project, ReproOptions};
use spike_pipe::nn::backend::BackendKind;
use spike_pipe::stages;

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
    /// A local CIFAR-10 copy (directory of .bin batches or one .bin file); sets SPIKE_CIFAR10_DIR.
    #[arg(long, global = true)]
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
    /// Numeric backend: flex (default), tch or cuda when compiled in.
    #[arg(long, global = true, default_value = "flex", value_parser = ["flex", "tch", "cuda"])]
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
    /// (Slurm jobs) Compute one stage into the cache.
    #[command(hide = true)]
    RunStage {
        #[arg(long)]
        stage: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        pull: bool,
        #[arg(long)]
        push: bool,
    },
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
    Pull(SyncArgs),
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
        /// Exit with 1 when a claim is not supported ("not tested" does not fail).
        #[arg(long)]
        strict: bool,
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
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Some(dir) = &cli.global.cifar10_dir {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var(spike_pipe::datasets::cifar10::ENV_DIR, dir) };
    }
    init_logging(cli.global.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn project(g: &Global) -> Result<Project> {
    let backend = BackendKind::parse(&g.backend)?;
    let env: NumericEnv = [("backend".to_string(), backend.name().to_string())].into();
    let loc = Locations::resolve(&g.pipeline, g.cache_dir.clone(), g.outputs.clone());
    let overrides = g
        .set
        .iter()
        .map(|s| spike_pipe::config::Override::parse(s).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    Project::load(
        &loc,
        g.profile.as_deref(),
        &overrides,
        stages::registry(),
        env,
    )
}

/// `executor:` of pipeline.yaml, or `--executor`; a Slurm job reruns this program with the same
/// pipeline, profile, cache, backend and data.
fn executor(
    g: &Global,
    project: &Project,
    kind: Option<&str>,
    pull: bool,
    push: bool,
) -> Result<Executor> {
    let mut cfg =
        ExecutorConfig::from_yaml(project.pipeline.extra.get("executor"), &project.pipeline)?;
    if let Some(k) = kind {
        cfg.kind = k.to_string();
    }
    match cfg.kind.as_str() {
        "local" => Ok(Executor::Local),
        "slurm" => {
            let abs = |p: &std::path::Path| std::path::absolute(p).map(|p| p.display().to_string());
            let mut argv = vec![
                std::env::current_exe()?.display().to_string(),
                "--pipeline".into(),
                abs(&project.pipeline.file)?,
                "--profile".into(),
                project.pipeline.profile.clone(),
                "--cache-dir".into(),
                abs(project.cache.root())?,
                "--outputs".into(),
                abs(&project.outputs)?,
                "--backend".into(),
                g.backend.clone(),
            ];
            if let Ok(dir) = std::env::var(spike_pipe::datasets::cifar10::ENV_DIR) {
                argv.extend(["--cifar10-dir".into(), abs(std::path::Path::new(&dir))?]);
            }
            // The jobs plan the same keys only with the same overrides.
            for s in &g.set {
                argv.extend(["-S".into(), s.clone()]);
            }
            // The URL may carry credentials: the jobs get it from their environment.
            let env: Vec<(String, String)> = remote_config(g, project)?
                .remote
                .map(|r| ("SPIKE_REMOTE".to_string(), r))
                .into_iter()
                .collect();
            let mut sub = Vec::new();
            if pull {
                sub.push("--pull".to_string());
            }
            if push {
                sub.push("--push".to_string());
            }
            Ok(Executor::Slurm(Box::new(Slurm {
                config: cfg,
                command: JobCommand {
                    argv,
                    flags: sub,
                    env,
                },
            })))
        }
        other => anyhow::bail!("unknown executor `{other}` (local, slurm)"),
    }
}

/// The remote of `cache:` in pipeline.yaml, or `--remote`.
fn remote_config(g: &Global, project: &Project) -> Result<RemoteConfig> {
    let mut cfg =
        RemoteConfig::from_yaml(project.pipeline.extra.get("cache"), &project.pipeline.file)?;
    if let Some(url) = &g.remote {
        cfg.remote = Some(url.clone());
    }
    Ok(cfg)
}

fn open_remote(cfg: &RemoteConfig) -> Result<Remote> {
    let url = cfg.remote.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "no remote cache: set `cache: {{remote: URL}}` in pipeline.yaml or pass --remote URL"
        )
    })?;
    Remote::open(url)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Repro(a) => {
            let project = project(g)?;
            let cfg = remote_config(g, &project)?;
            let (pull, push) = (a.pull || cfg.pull, a.push || cfg.push);
            let opts = ReproOptions {
                executor: executor(g, &project, a.executor.as_deref(), pull, push)?,
                targets: a.targets,
                dry: a.dry,
                force: a.force,
                downstream: a.downstream,
                jobs: a.jobs.unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1)
                }),
                keep_going: !a.fail_fast,
                command: std::env::args().collect(),
                name: a.name,
            };
            let remote = if pull || push {
                Some(open_remote(&cfg)?)
            } else {
                None
            };
            let hooks = remote
                .as_ref()
                .map(|r| RemoteHooks::new(r, &project.cache, pull, push));
            let result = match &hooks {
                Some(h) => engine::repro(&project, &opts, h)?,
                None => engine::repro(&project, &opts, &NoHooks)?,
            };
            let push_errors = hooks
                .as_ref()
                .map_or(0, |h| h.errors.lock().expect("lock").len());
            if a.dry {
                if a.json {
                    println!("{}", serde_json::to_string_pretty(&result.to_run)?);
                } else if result.to_run.is_empty() {
                    println!("nothing to run: every selected stage is up to date");
                }
                for l in result.to_run.iter().filter(|_| !a.json) {
                    println!("{l}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let record = result.record.as_ref().expect("a run record");
            for s in &record.stages {
                if let Some(e) = &s.error {
                    println!(
                        "{:9} {}: {e}",
                        format!("{:?}", s.outcome).to_lowercase(),
                        s.name
                    );
                }
            }
            let cache_root = project.cache.root();
            let report = spike_pipe::report::write_html(&project.outputs, cache_root, record)?;
            let claims = spike_pipe::report::claims(&project.outputs, cache_root, record, true)?;
            if !claims.is_empty() {
                println!(
                    "claim checks:\n{}",
                    spike_pipe::report::claims_table(&claims, false)
                );
            }
            println!("report: {}", report.display());
            let computed = record.count(Outcome::Computed);
            println!(
                "{} stages: {computed} computed, {} cached, {} pulled, {} failed, {} skipped in {:.2}s (profile {}, run {})",
                record.stages.len(),
                record.count(Outcome::Cached),
                record.count(Outcome::Pulled),
                record.count(Outcome::Failed),
                record.count(Outcome::Skipped),
                record.wall_s,
                record.profile,
                record.run_id
            );
            if computed == 0 && record.ok {
                println!("nothing to do: all stages up to date (0 stages run)");
            }
            if push_errors > 0 {
                eprintln!(
                    "error: {push_errors} entries could not be pushed to the remote cache (see above)"
                );
                return Ok(ExitCode::from(1));
            }
            Ok(if record.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Gc {
            dry,
            keep_runs,
            older_than,
        } => {
            let project = project(g)?;
            let opts = engine::gc::GcOptions {
                dry,
                keep_runs,
                older_than: older_than
                    .as_deref()
                    .map(engine::gc::parse_age)
                    .transpose()?,
            };
            println!("{}", engine::gc::gc(&project, &opts)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json, quiet } => {
            let project = project(g)?;
            let lines = engine::status_lines(&project);
            let stale = lines.iter().filter(|l| !l.1).count();
            let code = ExitCode::from(u8::from(quiet && stale > 0));
            if quiet {
                return Ok(code);
            }
            if json {
                let rows: Vec<serde_json::Value> = lines
                    .iter()
                    .map(|(name, fresh, why)| {
                        serde_json::json!({"stage": name, "stale": !fresh, "reason": why})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(code);
            }
            for o in &project.pipeline.overrides {
                println!("  with   -S {o}");
            }
            for (name, fresh, why) in &lines {
                if *fresh {
                    println!("  ok     {name}: {why}");
                } else {
                    println!("  stale  {name}: {why}");
                }
            }
            println!(
                "{stale} of {} stages stale (profile {})",
                lines.len(),
                project.pipeline.profile
            );
            Ok(ExitCode::SUCCESS)
        }
        command @ (Command::Push(_) | Command::Pull(_)) => {
            let (pull, a) = match command {
                Command::Pull(a) => (true, a),
                Command::Push(a) => (false, a),
                _ => unreachable!("matched above"),
            };
            let project = project(g)?;
            let remote = open_remote(&remote_config(g, &project)?)?;
            let t = spike_pipe::engine::remote::sync(&project, &remote, pull, a.all, a.jobs)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&t)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{} {} entries ({} blobs, {:.1} MB); {} already {}",
                if pull { "pulled" } else { "pushed" },
                t.entries,
                t.blobs,
                t.bytes as f64 / 1e6,
                t.skipped,
                if pull {
                    "in the local cache"
                } else {
                    "on the remote"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff {
            a,
            b,
            rtol,
            atol,
            md,
            json,
            html,
        } => {
            let loc = Locations::resolve(&g.pipeline, g.cache_dir.clone(), g.outputs.clone());
            let cache = spike_pipe::engine::cache::Cache::open(&loc.cache)?;
            let (sa, sb) = diff::sides(&loc.outputs, &cache, a.as_deref(), b.as_deref())?;
            let headline =
                |name: &str, x: Option<&std::path::Path>, y: Option<&std::path::Path>| {
                    spike_pipe::report::headline(name, x, y, rtol, atol)
                };
            let d = diff::diff(&sa, &sb, rtol, atol, &headline)?;
            if let Some(dir) = &html {
                let page = spike_pipe::report::diff_html(&d, &sa, &sb, dir)?;
                eprintln!("diff page: {}", page.display());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print!("{}", diff::render(&d, md));
            }
            Ok(if d.differs() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::RunStage {
            stage,
            key,
            force,
            pull,
            push,
        } => {
            let project = project(g)?;
            let remote = if pull || push {
                Some(open_remote(&remote_config(g, &project)?)?)
            } else {
                None
            };
            let computed = (|| -> Result<_> {
                Ok(match &remote {
                    Some(r) => {
                        let hooks = RemoteHooks::new(r, &project.cache, pull, push);
                        let record = engine::run_stage(&project, &stage, &key, force, &hooks)?;
                        if let Some(e) = hooks.errors.lock().expect("lock").first() {
                            anyhow::bail!("{e}");
                        }
                        record
                    }
                    None => engine::run_stage(&project, &stage, &key, force, &NoHooks)?,
                })
            })();
            // A failed stage exits with 1, like repro.
            match computed {
                Ok(record) => {
                    println!("{}: {:?} ({key})", record.name, record.outcome);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Verify {
            run,
            md,
            json,
            strict,
        } => {
            let loc = Locations::resolve(&g.pipeline, g.cache_dir.clone(), g.outputs.clone());
            let record = spike_pipe::engine::runs::find(&loc.outputs, &run)?;
            let latest = spike_pipe::engine::runs::is_latest(&loc.outputs, &record);
            let claims = spike_pipe::report::claims(&loc.outputs, &loc.cache, &record, latest)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&claims)?);
            } else {
                print!("{}", spike_pipe::report::claims_table(&claims, md));
            }
            let failed = claims
                .iter()
                .flat_map(|c| &c.claims)
                .filter(|c| c.verdict == spike_pipe::stages::figure::Verdict::NotSupported)
                .count();
            let summary = format!(
                "{} (run {}, profile {})",
                spike_pipe::report::claims_summary(&claims),
                record.run_id,
                record.profile
            );
            // JSON on stdout stays parseable.
            if json {
                eprintln!("{summary}");
            } else {
                println!("{summary}");
            }
            Ok(if strict && failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Bench {
            epochs,
            no_cnn,
            lanczos_k,
        } => {
            let loc = Locations::resolve(&g.pipeline, g.cache_dir.clone(), g.outputs.clone());
            let opts = spike_pipe::bench::Options {
                epochs,
                cnn: !no_cnn,
                lanczos_k,
            };
            let backend = BackendKind::parse(&g.backend)?;
            backend.ensure_usable()?;
            spike_pipe::bench::run(&opts, &loc.data, backend)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "spike-pipe",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run } => {
            let loc = Locations::resolve(&g.pipeline, g.cache_dir.clone(), g.outputs.clone());
            let record = spike_pipe::engine::runs::find(&loc.outputs, &run)?;
            let (path, missing) = spike_pipe::report::rebuild(&loc.outputs, &loc.cache, &record)?;
            for m in &missing {
                println!("not rebuilt: {m}: its cache entry was removed (spike-pipe gc)");
            }
            println!("report: {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { show, json, csv } => {
            let loc = Locations::resolve(&g.pipeline, g.cache_dir.clone(), g.outputs.clone());
            if let Some(RunsCommand::Show { id }) = show {
                let r = spike_pipe::engine::runs::find(&loc.outputs, &id)?;
                let latest = spike_pipe::engine::runs::is_latest(&loc.outputs, &r);
                println!("run      {}", r.run_id);
                println!("name     {}", r.name.as_deref().unwrap_or("-"));
                println!(
                    "started  {}   finished {}   {:.1} s",
                    r.started, r.finished, r.wall_s
                );
                println!(
                    "profile  {}   tool {}   env {:?}",
                    r.profile, r.tool_version, r.env
                );
                println!("command  {}", r.command.join(" "));
                for o in &r.overrides {
                    println!("with     -S {o}");
                }
                for st in &r.stages {
                    println!(
                        "  {:9} {}  {}  {:.2} s",
                        format!("{:?}", st.outcome).to_lowercase(),
                        st.key.get(..12).unwrap_or(&st.key),
                        st.name,
                        st.wall_s
                    );
                }
                match spike_pipe::report::claims(&loc.outputs, &loc.cache, &r, latest) {
                    Ok(c) => print!("{}", spike_pipe::report::claims_table(&c, false)),
                    Err(e) => println!("claims: {e:#}"),
                }
                return Ok(ExitCode::SUCCESS);
            }
            let rows = spike_pipe::report::run_summaries(&loc.outputs, &loc.cache)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if csv {
                println!("{}", spike_pipe::report::RunSummary::CSV_HEADER);
                for r in &rows {
                    println!("{}", r.csv());
                }
            } else {
                for r in &rows {
                    println!("{r}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Kinds { kind } => {
            print!(
                "{}",
                spike_pipe::stages::registry().listing(kind.as_deref())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Figures => {
            let project = project(g)?;
            for s in project
                .pipeline
                .stages
                .iter()
                .filter(|s| s.kind.starts_with("figure"))
            {
                let text = |k: &str| s.params.get(k).map(|v| v.to_string()).unwrap_or_default();
                println!(
                    "{:<10} {} ({}, kind {})",
                    text("id"),
                    text("title"),
                    s.name,
                    s.kind
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Dag { dot, json } => {
            let project = project(g)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&engine::dag::json(&project.pipeline))?
                );
            } else if dot {
                print!("{}", engine::dag::dot(&project.pipeline));
            } else {
                print!("{}", engine::dag::text(&project.pipeline));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
