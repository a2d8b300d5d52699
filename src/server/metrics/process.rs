//! `process_*` figures read from `/proc` at scrape time (resident memory
//! and its peak, virtual memory, open and maximum file descriptors, CPU seconds, start
//! time), with the names every Prometheus client library uses, and
//! `cdn_edge_build_info`. A figure `/proc` cannot give is left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the process's figures from `/proc/self` on each scrape.
#[derive(Debug)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        let mut gauges: Vec<(&str, &str, i64)> = Vec::new();
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / ticks);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds",
                None,
                cpu.metric_type(),
            )?)?;
            let page = procfs::page_size() as i64;
            gauges.push((
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                stat.rss as i64 * page,
            ));
            gauges.push((
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stat.vsize as i64,
            ));
            if let Ok(boot) = procfs::boot_time_secs() {
                let start = ConstGauge::new(boot as f64 + stat.starttime as f64 / ticks);
                start.encode(encoder.encode_descriptor(
                    "process_start_time_seconds",
                    "Start time of the process since the Unix epoch, in seconds",
                    None,
                    start.metric_type(),
                )?)?;
            }
        }
        if let Some(peak) = me.status().ok().and_then(|s| s.vmhwm) {
            gauges.push((
                "process_resident_memory_peak_bytes",
                "Peak resident memory size in bytes since start (VmHWM)",
                peak as i64 * 1024,
            ));
        }
        if let Ok(n) = me.fd_count() {
            gauges.push(("process_open_fds", "Open file descriptors", n as i64));
        }
        if let Ok(limits) = me.limits() {
            if let procfs::process::LimitValue::Value(n) = limits.max_open_files.soft_limit {
                gauges.push(("process_max_fds", "Maximum open file descriptors", n as i64));
            }
        }
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

/// `cdn_edge_build_info{version, commit} 1`.
pub fn encode_build_info(encoder: &mut DescriptorEncoder) -> std::fmt::Result {
    let g = ConstGauge::new(1i64);
    let mut family = encoder.encode_descriptor(
        "build_info",
        "The running binary: version and git commit",
        None,
        g.metric_type(),
    )?;
    g.encode(family.encode_family(&[
        ("version", env!("CARGO_PKG_VERSION")),
        ("commit", crate::GIT_COMMIT),
    ])?)
}
