//! Which kind of failure an error is, for the exit code: bad input (nothing ran), or the
//! machine, the network, a remote store or the cluster failing under a valid input.

use std::fmt;

/// A failure of the environment that no I/O error carries: a job the cluster refused, an
/// interrupt.
#[derive(Debug)]
pub struct Operational(pub String);

impl fmt::Display for Operational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Operational {}

/// Whether `e` is operational: an I/O error (a full disk, a refused connection), an error of a
/// remote store, or an [`Operational`] anywhere in its chain. Retrying may succeed; the input
/// need not change.
pub fn is_operational(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<std::io::Error>() || c.is::<object_store::Error>() || c.is::<Operational>())
}

/// Whether a stage failed because of the machine rather than its inputs or code: a full disk,
/// a quota, a read-only file system, exhausted memory, a remote store, or an [`Operational`].
/// Narrower than [`is_operational`]: a stage that finds a directory where it writes, or a
/// truncated download, failed on what it was given (exit 1), not on the machine (exit 3).
pub fn is_machine_failure(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind as K;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                K::StorageFull | K::QuotaExceeded | K::ReadOnlyFilesystem | K::OutOfMemory
            )
        }) || c.is::<object_store::Error>()
            || c.is::<Operational>()
    })
}

#[cfg(test)]
mod tests {
    use anyhow::{Context, anyhow};

    use super::*;

    #[test]
    fn io_store_and_marked_errors_are_operational_messages_are_not() {
        let disk = Err::<(), _>(std::io::Error::from(std::io::ErrorKind::StorageFull))
            .context("writing the cache entry")
            .unwrap_err();
        assert!(is_operational(&disk));
        let store = anyhow::Error::new(object_store::Error::NotFound {
            path: "bucket".into(),
            source: "no such bucket".into(),
        })
        .context("remote x");
        assert!(is_operational(&store));
        assert!(is_operational(&anyhow!(Operational(
            "sbatch refused".into()
        ))));
        assert!(!is_operational(
            &anyhow!("pipeline.yaml:3: unknown field").context("loading")
        ));
    }

    #[test]
    fn a_full_disk_is_the_machines_failure_a_directory_in_the_way_is_not() {
        let io = |kind| anyhow::Error::new(std::io::Error::from(kind)).context("writing x");
        assert!(is_machine_failure(&io(std::io::ErrorKind::StorageFull)));
        assert!(is_machine_failure(&io(
            std::io::ErrorKind::ReadOnlyFilesystem
        )));
        assert!(!is_machine_failure(&io(std::io::ErrorKind::IsADirectory)));
        assert!(!is_machine_failure(&io(std::io::ErrorKind::NotFound)));
        assert!(!is_machine_failure(&anyhow!("the archive is truncated")));
    }
}
