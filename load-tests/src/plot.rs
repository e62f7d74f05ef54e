//! An SVG of a run over time (plotters): ack latency p50/p99 per second, acknowledgements per
//! second (gateway and baseline, each from its own start), and the gateway's queue depth.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::report::Report;

pub fn write_svg(report: &Report, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
    let root = root
        .titled(
            &format!("Switchboard load test: {}", report.scenario),
            ("sans-serif", 22),
        )
        .map_err(|e| anyhow!("plot: {e}"))?;
    let panels = root.split_evenly((3, 1));

    let series = |f: &Option<crate::report::FireReport>| {
        f.as_ref().map(|f| f.per_second.clone()).unwrap_or_default()
    };
    let gateway = series(&report.gateway);
    let baseline = series(&report.baseline);
    let seconds = gateway
        .len()
        .max(baseline.len())
        .max(
            report
                .samples
                .last()
                .map(|s| s.t.ceil() as usize)
                .unwrap_or(0),
        )
        .max(1) as f64;

    // 1. Ack latency.
    let max_latency = gateway
        .iter()
        .chain(baseline.iter())
        .map(|p| p.p99_ms)
        .fold(0.0, f64::max)
        .max(0.1)
        * 1.1;
    let mut chart = ChartBuilder::on(&panels[0])
        .caption("webhook ack latency per second (ms)", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..seconds, 0f64..max_latency)
        .map_err(|e| anyhow!("plot: {e}"))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    let lines = [
        (&gateway, "gateway p50", BLUE, false),
        (&gateway, "gateway p99", RED, true),
        (&baseline, "baseline p50", GREEN, false),
        (&baseline, "baseline p99", MAGENTA, true),
    ];
    for (points, label, color, p99) in lines {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points
                    .iter()
                    .filter(|p| p.count > 0)
                    .map(|p| (p.second as f64, if p99 { p.p99_ms } else { p.p50_ms })),
                color,
            ))
            .map_err(|e| anyhow!("plot: {e}"))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;

    // 2. Acks per second.
    let max_rate = gateway
        .iter()
        .chain(baseline.iter())
        .map(|p| p.count as f64)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut chart = ChartBuilder::on(&panels[1])
        .caption("webhooks acknowledged per second", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..seconds, 0f64..max_rate)
        .map_err(|e| anyhow!("plot: {e}"))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    for (points, label, color) in [(&gateway, "gateway", BLUE), (&baseline, "baseline", GREEN)] {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.second as f64, p.count as f64)),
                color,
            ))
            .map_err(|e| anyhow!("plot: {e}"))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;

    // 3. Queue depth.
    let max_queue = report.max_queue_depth.max(1.0) * 1.1;
    let mut chart = ChartBuilder::on(&panels[2])
        .caption(
            "conversations waiting in team queues (gateway, sampled every 250 ms)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..seconds, 0f64..max_queue)
        .map_err(|e| anyhow!("plot: {e}"))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    chart
        .draw_series(LineSeries::new(
            report.samples.iter().map(|s| (s.t, s.queue_depth)),
            BLACK,
        ))
        .map_err(|e| anyhow!("plot: {e}"))?;
    root.present().map_err(|e| anyhow!("plot: {e}"))?;
    Ok(())
}
