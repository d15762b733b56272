//! The engine's contract on stage kinds of its own, with no science in them: a kind declared
//! the way every kind is (one parameter struct, a declared table) is validated before anything
//! runs, computed once, cached, recomputed exactly when its key changes, and its failures and
//! panics are contained.

use anyhow::{Result, bail};
use spike_pipe::config::{InputSpec, NoParams};
use spike_pipe::engine::context::StageContext;
use spike_pipe::engine::exec::NoHooks;
use spike_pipe::engine::kind::{Kind, Output, Registry};
use spike_pipe::engine::runs::Outcome;
use spike_pipe::engine::{Executor, Locations, Project, ReproOptions};

spike_pipe::stage_params! {
    pub struct SourceParams {
        /// how many numbers
        pub n: usize = 3; range(1.0, 100.0),
        /// each number is its index times this
        pub scale: f64 = 1.0,
        /// fail on purpose
        pub fail: bool = false,
    }
}

spike_pipe::table_schema! {
    pub struct Numbers in "numbers" {
        pub value: Vec<f64>,
    }
}

/// Writes `scale * i` for i < n; fails when asked, panics for n = 13.
struct Source;

impl Kind for Source {
    const NAME: &'static str = "source";
    const VERSION: u32 = 1;
    const DOC: &'static str = "numbers";
    type Params = SourceParams;
    type Output = ();

    fn run(&self, p: &SourceParams, ctx: &mut StageContext) -> Result<()> {
        if p.fail {
            bail!("asked to fail");
        }
        assert_ne!(p.n, 13, "unlucky number");
        ctx.write(&Numbers {
            value: (0..p.n).map(|i| i as f64 * p.scale).collect(),
        })
    }
}

/// The sum of its input's numbers, and the input's `scale` read as its typed parameters.
struct Sum;

impl Kind for Sum {
    const NAME: &'static str = "sum";
    const VERSION: u32 = 1;
    const DOC: &'static str = "sum of numbers";
    const NUMERIC: bool = true;
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("source", &["source"])];
    type Params = NoParams;
    type Output = ();

    fn run(&self, _: &NoParams, ctx: &mut StageContext) -> Result<()> {
        let input = ctx.input("source")?;
        let numbers: Numbers = input.read()?;
        let upstream: SourceParams = input.params()?;
        ctx.write(&Numbers {
            value: vec![numbers.value.iter().sum(), upstream.scale],
        })
    }
}

spike_pipe::stage_params! {
    pub struct NoteParams {
        /// published as `<id>.txt`
        pub id: String,
        /// its content
        pub text: String,
    }
}

/// Publishes one file, `<id>.txt`.
struct Note;

impl Kind for Note {
    const NAME: &'static str = "note";
    const VERSION: u32 = 1;
    const DOC: &'static str = "a published note";
    type Params = NoteParams;
    type Output = NoteText;

    fn run(&self, p: &NoteParams, _: &mut StageContext) -> Result<NoteText> {
        Ok(NoteText(p.text.clone()))
    }
}

/// A kind that writes a published file its output type does not declare.
struct Rogue;

impl Kind for Rogue {
    const NAME: &'static str = "rogue";
    const VERSION: u32 = 1;
    const DOC: &'static str = "publishes a file it never declared";
    type Params = NoParams;
    type Output = ();

    fn run(&self, _: &NoParams, ctx: &mut StageContext) -> Result<()> {
        std::fs::write(ctx.publish_path("fig5_2.claims.json")?, "{}")?;
        Ok(())
    }
}

/// A note's text, published as `<id>.txt`: what a stage publishes is declared by its output
/// type, from its parameters.
struct NoteText(String);

impl Output<NoteParams> for NoteText {
    fn finish(self, p: &NoteParams, ctx: &StageContext) -> Result<()> {
        std::fs::write(ctx.publish_path(&format!("{}.txt", p.id))?, &self.0)?;
        Ok(())
    }

    fn publishes(p: &NoteParams) -> Vec<String> {
        vec![format!("{}.txt", p.id)]
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    loc: Locations,
}

impl Fixture {
    fn new(yaml: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = dir.path().join("pipeline.yaml");
        std::fs::write(&pipeline, yaml).unwrap();
        let loc = Locations::resolve(&pipeline, None, None);
        Fixture { _dir: dir, loc }
    }

    fn rewrite(&self, yaml: &str) {
        std::fs::write(&self.loc.pipeline, yaml).unwrap();
    }

    fn project(&self, backend: &str) -> Result<Project> {
        let registry = Registry::new(vec![
            Box::new(Source),
            Box::new(Sum),
            Box::new(Note),
            Box::new(Rogue),
        ]);
        let env = [("backend".to_string(), backend.to_string())].into();
        Project::load(&self.loc, None, &[], registry, env)
    }

    /// Runs `repro`: each stage's outcome (and error), in pipeline order.
    fn repro(&self) -> Vec<(String, Outcome, Option<String>)> {
        let project = self.project("flex").unwrap();
        let opts = ReproOptions {
            executor: Executor::Local,
            targets: vec![],
            dry: false,
            force: false,
            downstream: false,
            jobs: 2,
            keep_going: true,
            command: vec!["test".into()],
            name: None,
        };
        let result = spike_pipe::engine::repro(&project, &opts, &NoHooks).unwrap();
        let record = result.record.unwrap();
        record
            .stages
            .into_iter()
            .map(|s| (s.name, s.outcome, s.error))
            .collect()
    }

    fn outcomes(&self) -> Vec<Outcome> {
        self.repro().into_iter().map(|s| s.1).collect()
    }

    /// The numbers a stage wrote, read back from its cache entry.
    fn numbers(&self, stage: &str) -> Vec<f64> {
        let project = self.project("flex").unwrap();
        let n = project.pipeline.stages.len();
        let plan = project.plan(&vec![false; n]);
        let i = project
            .pipeline
            .stages
            .iter()
            .position(|s| s.name == stage)
            .unwrap();
        let entry = project.cache.entry_dir(&plan.stages[i].key).unwrap();
        let df = spike_pipe::table::read_parquet(&entry.join("numbers.parquet")).unwrap();
        <Numbers as spike_pipe::table::Table>::from_frame(&df)
            .unwrap()
            .value
    }
}

const CHAIN: &str = r#"
stages:
  - name: a
    kind: source
  - name: b
    kind: source
    params: {scale: 2.0}
  - name: total
    kind: sum
    needs: {source: a}
"#;

#[test]
fn computes_once_then_serves_the_cache() {
    let f = Fixture::new(CHAIN);
    use Outcome::*;
    assert_eq!(f.outcomes(), [Computed, Computed, Computed]);
    assert_eq!(f.numbers("a"), [0.0, 1.0, 2.0]);
    assert_eq!(f.numbers("b"), [0.0, 2.0, 4.0]);
    // The sum of a's numbers, and a's `scale` (its default) read as its typed parameters.
    assert_eq!(f.numbers("total"), [3.0, 1.0]);
    assert_eq!(f.outcomes(), [Cached, Cached, Cached]);
}

#[test]
fn a_change_recomputes_exactly_what_depends_on_it() {
    let f = Fixture::new(CHAIN);
    f.repro();
    use Outcome::*;
    // b feeds nothing: only b.
    f.rewrite(&CHAIN.replace("{scale: 2.0}", "{scale: 3.0}"));
    assert_eq!(f.outcomes(), [Cached, Computed, Cached]);
    // a feeds total: both, and total sees the new numbers.
    f.rewrite(&CHAIN.replace("{scale: 2.0}", "{scale: 3.0}").replace(
        "kind: source\n  - name: b",
        "kind: source\n    params: {n: 4}\n  - name: b",
    ));
    assert_eq!(f.outcomes(), [Computed, Cached, Computed]);
    assert_eq!(f.numbers("total"), [6.0, 1.0]);
    // A default written out is the same parameters: nothing to do.
    f.rewrite(
        &CHAIN
            .replace("{scale: 2.0}", "{scale: 3.0, fail: false}")
            .replace(
                "kind: source\n  - name: b",
                "kind: source\n    params: {n: 4, scale: 1}\n  - name: b",
            ),
    );
    assert_eq!(f.outcomes(), [Cached, Cached, Cached]);
}

#[test]
fn bad_parameters_are_refused_before_anything_runs() {
    let f = Fixture::new(&CHAIN.replace("{scale: 2.0}", "{scale: 2.0, n: 1000}"));
    let e = f.project("flex").err().unwrap().to_string();
    assert!(e.contains("pipeline.yaml"), "{e}");
    assert!(
        e.contains(":7: stage `b`") && e.contains("params.n: must be >= 1 and <= 100"),
        "{e}"
    );
    assert!(!f.loc.cache.exists(), "nothing may be written: {e}");
    let f = Fixture::new(&CHAIN.replace("{scale: 2.0}", "{scael: 2.0}"));
    let e = f.project("flex").err().unwrap().to_string();
    assert!(e.contains("did you mean `scale`?"), "{e}");
}

#[test]
fn a_failure_skips_its_dependents_and_is_not_cached() {
    let f = Fixture::new(&CHAIN.replace(
        "  - name: a\n    kind: source\n",
        "  - name: a\n    kind: source\n    params: {fail: true}\n",
    ));
    use Outcome::*;
    let run = f.repro();
    let outcomes: Vec<Outcome> = run.iter().map(|s| s.1).collect();
    assert_eq!(outcomes, [Failed, Computed, Skipped]);
    assert!(run[0].2.as_deref().unwrap().contains("asked to fail"));
    // Tried again next time, never served from the cache.
    assert_eq!(f.outcomes(), [Failed, Cached, Skipped]);
}

#[test]
fn a_panic_is_a_failure_of_its_stage() {
    let f = Fixture::new(&CHAIN.replace("{scale: 2.0}", "{n: 13}"));
    let run = f.repro();
    assert_eq!(run[1].1, Outcome::Failed);
    assert!(
        run[1].2.as_deref().unwrap().contains("unlucky number"),
        "{run:?}"
    );
    assert_eq!(run[2].1, Outcome::Computed);
}

#[test]
fn only_numeric_kinds_key_on_the_backend() {
    let f = Fixture::new(CHAIN);
    let keys = |backend: &str| -> Vec<String> {
        let p = f.project(backend).unwrap();
        let n = p.pipeline.stages.len();
        p.plan(&vec![false; n])
            .stages
            .into_iter()
            .map(|s| s.key)
            .collect()
    };
    let (flex, tch) = (keys("flex"), keys("tch"));
    assert_eq!(flex[..2], tch[..2], "source is not numeric");
    assert_ne!(flex[2], tch[2], "sum is");
}

#[test]
fn the_kind_documents_itself_from_its_declaration() {
    let registry = Registry::new(vec![Box::new(Source), Box::new(Sum)]);
    let text = registry.listing(Some("source")).unwrap();
    assert!(text.starts_with("source (v1): numbers"), "{text}");
    assert!(
        text.contains("n (an integer; default 3; >= 1 and <= 100): how many numbers"),
        "{text}"
    );
    assert!(
        text.contains("fail (a boolean; default false): fail on purpose"),
        "{text}"
    );
}

#[test]
fn two_stages_may_not_publish_the_same_file() {
    let notes = r#"
stages:
  - name: first
    kind: note
    params: {id: n, text: one}
  - name: second
    kind: note
    params: {id: n, text: two}
  - name: third
    kind: note
    params: {id: m, text: three}
"#;
    let f = Fixture::new(notes);
    let run = f.repro();
    let figures = f.loc.outputs.join("figures");
    let read = |name: &str| std::fs::read_to_string(figures.join(name)).unwrap();
    assert_eq!(read("n.txt"), "one");
    assert_eq!(read("m.txt"), "three");
    let error = run[1].2.as_deref().unwrap();
    assert!(
        error.contains("`n.txt` is also published by stage `first`")
            && error.contains("another `id`"),
        "{error}"
    );
    assert!(run[0].2.is_none() && run[2].2.is_none(), "{run:?}");
    // Distinct ids: all published.
    f.rewrite(&notes.replace("{id: n, text: two}", "{id: k, text: two}"));
    assert!(f.repro().iter().all(|s| s.2.is_none()));
    assert_eq!(read("k.txt"), "two");
}

#[test]
fn a_stage_publishes_only_what_its_kind_declares() {
    let f = Fixture::new("stages:\n  - name: rogue\n    kind: rogue\n");
    let run = f.repro();
    assert_eq!(run[0].1, Outcome::Failed, "{run:?}");
    let error = run[0].2.as_deref().unwrap();
    assert!(
        error.contains("it publishes fig5_2.claims.json, which a `rogue` stage with these parameters never writes (it publishes nothing)"),
        "{error}"
    );
    assert!(!f.loc.outputs.join("figures/fig5_2.claims.json").exists());
}
