//! A sandbox's cgroup statistics in containerd's metrics types: cgroups v1
//! `io.containerd.cgroups.v1.Metrics` or v2 `io.containerd.cgroups.v2.Metrics`
//! by the host's layout, as containerd's runc shim returns them (what
//! `ctr task metrics` and the CRI stats read).

use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::util::convert_to_any;
use vigil_runtime::cgroups::{Stats, Version};

/// The metrics message for `stats` (with `oom_kills` from the memory
/// cgroup's counter), packed for `StatsResponse`.
pub fn to_any(version: Version, stats: &Stats, oom_kills: u64) -> anyhow::Result<Any> {
    let any = match version {
        Version::V1 => convert_to_any(Box::new(metrics_v1(stats, oom_kills))),
        Version::V2 => convert_to_any(Box::new(metrics_v2(stats, oom_kills))),
    };
    any.map_err(|e| anyhow::anyhow!("encode metrics: {e}"))
}

fn metrics_v1(s: &Stats, oom_kills: u64) -> v1::Metrics {
    let raw = |key: &str| s.memory.raw.get(key).copied().unwrap_or(0);
    let entry = |e: &vigil_runtime::cgroups::MemoryEntry| v1::MemoryEntry {
        limit: e.limit,
        usage: e.usage,
        max: e.max,
        failcnt: e.failcnt,
        ..Default::default()
    };
    let m = &s.memory;
    v1::Metrics {
        pids: MessageField::some(v1::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(v1::CPUStat {
            usage: MessageField::some(v1::CPUUsage {
                total: s.cpu.usage.total,
                kernel: s.cpu.usage.kernel,
                user: s.cpu.usage.user,
                per_cpu: s.cpu.usage.percpu.clone(),
                ..Default::default()
            }),
            throttling: MessageField::some(v1::Throttle {
                periods: s.cpu.throttling.periods,
                throttled_periods: s.cpu.throttling.throttled_periods,
                throttled_time: s.cpu.throttling.throttled_time,
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory: MessageField::some(v1::MemoryStat {
            cache: m.cache,
            rss: raw("rss"),
            rss_huge: raw("rss_huge"),
            mapped_file: raw("mapped_file"),
            dirty: raw("dirty"),
            writeback: raw("writeback"),
            pg_pg_in: raw("pgpgin"),
            pg_pg_out: raw("pgpgout"),
            pg_fault: raw("pgfault"),
            pg_maj_fault: raw("pgmajfault"),
            inactive_anon: raw("inactive_anon"),
            active_anon: raw("active_anon"),
            inactive_file: raw("inactive_file"),
            active_file: raw("active_file"),
            unevictable: raw("unevictable"),
            hierarchical_memory_limit: raw("hierarchical_memory_limit"),
            hierarchical_swap_limit: raw("hierarchical_memsw_limit"),
            total_cache: raw("total_cache"),
            total_rss: raw("total_rss"),
            total_rss_huge: raw("total_rss_huge"),
            total_mapped_file: raw("total_mapped_file"),
            total_dirty: raw("total_dirty"),
            total_writeback: raw("total_writeback"),
            total_pg_pg_in: raw("total_pgpgin"),
            total_pg_pg_out: raw("total_pgpgout"),
            total_pg_fault: raw("total_pgfault"),
            total_pg_maj_fault: raw("total_pgmajfault"),
            total_inactive_anon: raw("total_inactive_anon"),
            total_active_anon: raw("total_active_anon"),
            total_inactive_file: raw("total_inactive_file"),
            total_active_file: raw("total_active_file"),
            total_unevictable: raw("total_unevictable"),
            usage: MessageField::some(entry(&m.usage)),
            swap: MessageField::some(entry(&m.swap)),
            kernel: MessageField::some(entry(&m.kernel)),
            kernel_tcp: MessageField::some(entry(&m.kernel_tcp)),
            ..Default::default()
        }),
        memory_oom_control: MessageField::some(v1::MemoryOomControl {
            oom_kill: oom_kills,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn metrics_v2(s: &Stats, oom_kills: u64) -> v2::Metrics {
    let raw = |key: &str| s.memory.raw.get(key).copied().unwrap_or(0);
    let m = &s.memory;
    // `Stats` counts v2 swap as memory+swap (runc's v1 unit); containerd's
    // v2 metrics count swap alone.
    let swap_only = |both: u64| both.saturating_sub(m.usage.usage);
    v2::Metrics {
        pids: MessageField::some(v2::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(v2::CPUStat {
            usage_usec: s.cpu.usage.total / 1000,
            user_usec: s.cpu.usage.user / 1000,
            system_usec: s.cpu.usage.kernel / 1000,
            nr_periods: s.cpu.throttling.periods,
            nr_throttled: s.cpu.throttling.throttled_periods,
            throttled_usec: s.cpu.throttling.throttled_time / 1000,
            ..Default::default()
        }),
        memory: MessageField::some(v2::MemoryStat {
            anon: raw("anon"),
            file: raw("file"),
            kernel_stack: raw("kernel_stack"),
            slab: raw("slab"),
            sock: raw("sock"),
            shmem: raw("shmem"),
            file_mapped: raw("file_mapped"),
            file_dirty: raw("file_dirty"),
            file_writeback: raw("file_writeback"),
            anon_thp: raw("anon_thp"),
            inactive_anon: raw("inactive_anon"),
            active_anon: raw("active_anon"),
            inactive_file: raw("inactive_file"),
            active_file: raw("active_file"),
            unevictable: raw("unevictable"),
            slab_reclaimable: raw("slab_reclaimable"),
            slab_unreclaimable: raw("slab_unreclaimable"),
            pgfault: raw("pgfault"),
            pgmajfault: raw("pgmajfault"),
            usage: m.usage.usage,
            usage_limit: m.usage.limit,
            swap_usage: swap_only(m.swap.usage),
            swap_limit: swap_only(m.swap.limit),
            max_usage: m.usage.max,
            ..Default::default()
        }),
        memory_events: MessageField::some(v2::MemoryEvents {
            max: m.usage.failcnt,
            oom_kill: oom_kills,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_urls_are_containerds() {
        let stats = Stats::default();
        assert_eq!(
            to_any(Version::V1, &stats, 0).unwrap().type_url,
            "io.containerd.cgroups.v1.Metrics"
        );
        assert_eq!(
            to_any(Version::V2, &stats, 0).unwrap().type_url,
            "io.containerd.cgroups.v2.Metrics"
        );
    }

    #[test]
    fn v2_swap_is_swap_alone() {
        let mut stats = Stats::default();
        stats.memory.usage.usage = 100;
        stats.memory.swap.usage = 130;
        stats.cpu.usage.total = 5_000;
        let m = metrics_v2(&stats, 2);
        assert_eq!(m.memory.swap_usage, 30);
        assert_eq!(m.cpu.usage_usec, 5);
        assert_eq!(m.memory_events.oom_kill, 2);
    }
}
