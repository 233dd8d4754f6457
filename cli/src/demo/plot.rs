//! `timeline.svg`: the stream's throughput at the server over time, the handovers marked.

use std::path::Path;

use plotters::prelude::*;

use super::report::Report;

/// Buckets averaged for each point of the curve (100 ms each).
const SMOOTHING: usize = 3;

/// Draws the plot into `path`.
pub fn draw(report: &Report, path: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let buckets = &report.throughput_100ms;
    // Mbit/s per 100 ms bucket, averaged over a few buckets.
    let points: Vec<(f64, f64)> = buckets
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let from = i.saturating_sub(SMOOTHING / 2);
            let to = (i + SMOOTHING / 2 + 1).min(buckets.len());
            let sum: u64 = buckets[from..to].iter().sum();
            let mbps = sum as f64 * 8.0 / 0.1 / (to - from) as f64 / 1e6;
            (i as f64 / 10.0, mbps)
        })
        .collect();
    let end = report.virtual_time_s.max(1.0);
    let top = points.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.15;

    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "bridgeless demo (seed {}): the phone's stream at the server, {} over {} access points",
                report.seed, report.stream.transport, report.access_points
            ),
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..end, 0f64..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc("throughput (Mbit/s)")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("bytes read by the server, 300 ms average")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    for h in &report.handovers {
        let t = h.at_s;
        chart
            .draw_series(LineSeries::new(
                vec![(t, 0.0), (t, top)],
                RED.stroke_width(1),
            ))
            .map_err(|e| err(&e))?;
        let label = match h.interruption_ms {
            Some(ms) => format!("ap{} → ap{}: {ms:.0} ms", h.from_ap, h.to_ap),
            None => format!("ap{} → ap{}: never resumed", h.from_ap, h.to_ap),
        };
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (t + end * 0.005, top * 0.95),
                ("sans-serif", 13).into_font().color(&RED),
            )))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
