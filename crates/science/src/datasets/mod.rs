//! Dataset formats and sources (CIFAR-10's binary batches, its download).

pub mod cifar10;
