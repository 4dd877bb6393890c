//! The seed's `active_count()` example, in its own test binary so no other test's threads
//! change the count while it runs.

mod common;

#[allow(dead_code)]
#[path = "../examples/active_count.rs"]
mod active_count;

#[test]
fn one_thread_started_means_one_more_active() {
    let o = common::watchdog(20, active_count::run);
    assert_eq!(o.active_while_running, o.active_before + 1);
    assert_eq!(o.enumerated.len(), o.active_while_running);
    assert!(o.enumerated.contains(&o.in_child));
    assert!(o.in_child.name().starts_with("Thread-"));
    assert_ne!(o.in_child, o.in_caller);
    assert!(!o.in_child.is_alive());
}
