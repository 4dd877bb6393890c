//! `ctx.Pool(n)`: a [`Context`](crate::process::Context) builds pools too.

use super::process::{Pool, PoolBuilder};
use crate::error::PoolError;
use crate::process::Context;

impl Context {
    /// `ctx.Pool(processes)`: a pool whose workers start with this context's method.
    pub fn pool(&self, processes: usize) -> Result<Pool, PoolError> {
        self.pool_builder().processes(processes).build()
    }

    /// A [`PoolBuilder`] using this context's start method.
    pub fn pool_builder(&self) -> PoolBuilder {
        PoolBuilder::new().start_method(self.get_start_method())
    }
}
