//! The process map as an SVG picture: a layered drawing of the directly-follows graph, start at
//! the top, end at the bottom.
//!
//! Layout, in the manner of Sugiyama: (1) a depth-first walk from the start, strongest edges
//! first, marks the edges that go back up (loops); (2) every activity is put one layer below its
//! deepest predecessor; (3) a few barycentre sweeps order each layer to cut crossings. Forward
//! edges are curves downwards; back edges and self-loops are drawn on the right. Node colour and
//! size grow with frequency, edge width with count.

use std::fmt::Write;

use crate::dfg::Dfg;
use crate::filter::most_frequent_activities;
use crate::log::{Classifier, EventLog};

/// What an edge label says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EdgeLabel {
    /// How many times the edge was taken.
    #[default]
    Count,
    /// The median waiting time along the edge.
    MedianWait,
}

/// The simplification sliders and the label choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapOptions {
    /// The share of activities kept, most frequent first (1 keeps all).
    pub activities: f64,
    /// The share of edges kept, most frequent first (1 keeps all); every kept activity keeps
    /// its strongest incoming and outgoing edge.
    pub edges: f64,
    /// The edge labels.
    pub label: EdgeLabel,
    /// The activity classifier.
    pub classifier: Classifier,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            activities: 1.0,
            edges: 1.0,
            label: EdgeLabel::Count,
            classifier: Classifier::Name,
        }
    }
}

/// Simplifies the log as the options say and draws its map.
pub fn process_map_svg(log: &EventLog, options: &MapOptions) -> String {
    let view = log.classify(options.classifier);
    let simplified = most_frequent_activities(log, &view, options.activities);
    let view = simplified.classify(options.classifier);
    let dfg = Dfg::discover(&simplified, &view).simplify_edges(options.edges);
    render_process_map(&dfg, options.label)
}

const START: usize = 0;
const END: usize = 1;
const LAYER_GAP: f64 = 120.0;
const NODE_GAP: f64 = 40.0;
const MARGIN: f64 = 40.0;

struct MapEdge {
    from: usize,
    to: usize,
    count: u64,
    label: String,
    back: bool,
}

/// Draws a (simplified) graph. Activities with no event are left out.
pub fn render_process_map(dfg: &Dfg, label: EdgeLabel) -> String {
    // Node 0 is the start, 1 the end, 2.. the activities that occur.
    let activities: Vec<usize> = (0..dfg.activities.len())
        .filter(|&a| dfg.activity_counts[a] > 0)
        .collect();
    let mut node_of = vec![usize::MAX; dfg.activities.len()];
    for (index, &activity) in activities.iter().enumerate() {
        node_of[activity] = index + 2;
    }
    let node_count = activities.len() + 2;
    let name = |node: usize| match node {
        START => "start".to_owned(),
        END => "end".to_owned(),
        _ => dfg.activities[activities[node - 2]].clone(),
    };
    let frequency = |node: usize| match node {
        START => dfg.start.iter().sum(),
        END => dfg.end.iter().sum(),
        _ => dfg.activity_counts[activities[node - 2]],
    };
    let mut edges: Vec<MapEdge> = Vec::new();
    let mut has_incoming = vec![false; dfg.activities.len()];
    let mut has_outgoing = vec![false; dfg.activities.len()];
    for edge in &dfg.edges {
        let (from, to) = (node_of[edge.from as usize], node_of[edge.to as usize]);
        if from != usize::MAX && to != usize::MAX {
            let median = edge.wait.map(|wait| wait.median_seconds);
            edges.push(map_edge(from, to, edge.count, median, label));
            if edge.from != edge.to {
                has_outgoing[edge.from as usize] = true;
                has_incoming[edge.to as usize] = true;
            }
        }
    }
    // Start and end arcs obey the edge slider too: one is drawn when it is as frequent as the
    // rarest edge kept, or when the activity would otherwise have no way in (or out).
    let weakest_kept = dfg.edges.iter().map(|edge| edge.count).min().unwrap_or(0);
    for &activity in &activities {
        let (starts, ends) = (dfg.start[activity], dfg.end[activity]);
        if starts > 0 && (starts >= weakest_kept || !has_incoming[activity]) {
            edges.push(map_edge(START, node_of[activity], starts, None, label));
        }
        if ends > 0 && (ends >= weakest_kept || !has_outgoing[activity]) {
            edges.push(map_edge(node_of[activity], END, ends, None, label));
        }
    }
    edges.sort_by_key(|edge| std::cmp::Reverse(edge.count));

    let layer = assign_layers(node_count, &mut edges);
    let order = order_layers(node_count, &layer, &edges);

    // Geometry.
    let max_frequency = (2..node_count).map(frequency).max().unwrap_or(1).max(1) as f64;
    let size = |node: usize| -> (f64, f64) {
        if node == START || node == END {
            return (64.0, 28.0);
        }
        let share = frequency(node) as f64 / max_frequency;
        let characters = name(node)
            .chars()
            .count()
            .max(format_count(frequency(node)).len());
        (
            characters as f64 * 7.5 + 28.0 + share * 24.0,
            38.0 + share * 16.0,
        )
    };
    let layer_width = |nodes: &[usize]| -> f64 {
        nodes.iter().map(|&n| size(n).0).sum::<f64>()
            + NODE_GAP * nodes.len().saturating_sub(1) as f64
    };
    let widest = order
        .iter()
        .map(|nodes| layer_width(nodes))
        .fold(0.0, f64::max);
    // How an edge is drawn follows from where its ends sit, whatever the walk called it.
    let is_long = |edge: &MapEdge| layer[edge.to] > layer[edge.from] + 1;
    let goes_up = |edge: &MapEdge| edge.from == edge.to || layer[edge.to] < layer[edge.from];
    // Edges that skip layers run down a channel on the left, so they never cross a node.
    let long_edges = edges.iter().filter(|edge| is_long(edge)).count();
    let left_channel = if long_edges > 0 {
        40.0 + 18.0 * long_edges.min(8) as f64
    } else {
        0.0
    };
    let mut center = vec![(0.0f64, 0.0f64); node_count];
    for (depth, nodes) in order.iter().enumerate() {
        let mut x = MARGIN + left_channel + (widest - layer_width(nodes)) / 2.0;
        for &node in nodes {
            let (width, _) = size(node);
            center[node] = (x + width / 2.0, MARGIN + 30.0 + depth as f64 * LAYER_GAP);
            x += width + NODE_GAP;
        }
    }
    let has_side_edges = edges.iter().any(goes_up);
    let side_edges = edges.iter().filter(|edge| goes_up(edge)).count();
    let width = widest
        + left_channel
        + 2.0 * MARGIN
        + if has_side_edges {
            80.0 + 18.0 * side_edges.min(8) as f64
        } else {
            0.0
        };
    let (mut left_lane, mut right_lane) = (0usize, 0usize);
    let height = MARGIN * 2.0 + 60.0 + (order.len().saturating_sub(1)) as f64 * LAYER_GAP;
    let max_count = edges
        .iter()
        .map(|edge| edge.count)
        .max()
        .unwrap_or(1)
        .max(1) as f64;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>
<rect width="100%" height="100%" fill="#ffffff"/>
"##
    );
    // Edges under nodes.
    for edge in &edges {
        let stroke = 1.0 + 7.0 * (edge.count as f64 / max_count).sqrt();
        let (from_center, to_center) = (center[edge.from], center[edge.to]);
        let (from_size, to_size) = (size(edge.from), size(edge.to));
        let (path, label_at) = if edge.from == edge.to {
            let x = from_center.0 + from_size.0 / 2.0;
            let y = from_center.1;
            (
                format!(
                    "M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    x,
                    y - 8.0,
                    x + 45.0,
                    y - 30.0,
                    x + 45.0,
                    y + 30.0,
                    x,
                    y + 8.0
                ),
                (x + 38.0, y),
            )
        } else if layer[edge.to] == layer[edge.from] {
            // Between neighbours in a layer: an arch over the top.
            let start = (from_center.0, from_center.1 - from_size.1 / 2.0);
            let end = (to_center.0, to_center.1 - to_size.1 / 2.0);
            let rise = 30.0 + (start.0 - end.0).abs() * 0.08;
            let top = start.1.min(end.1) - rise;
            (
                format!(
                    "M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    start.0, start.1, start.0, top, end.0, top, end.0, end.1
                ),
                ((start.0 + end.0) / 2.0, top + rise * 0.25),
            )
        } else if goes_up(edge) {
            // Loops go round on the right, each a little further out so they stay apart.
            let bulge = 40.0 + (right_lane % 8) as f64 * 18.0;
            right_lane += 1;
            // Out of the source's top, up into the target's right side: across gaps, not nodes.
            let spread = ((right_lane % 5) as f64 - 2.0) * 4.0;
            let start = (
                from_center.0 + from_size.0 / 4.0 + spread,
                from_center.1 - from_size.1 / 2.0,
            );
            let end = (to_center.0 + to_size.0 / 2.0, to_center.1 - spread);
            let side = start.0.max(end.0) + bulge;
            (
                format!(
                    "M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    start.0,
                    start.1,
                    start.0,
                    start.1 - 50.0,
                    side,
                    end.1,
                    end.0,
                    end.1
                ),
                ((start.0 + side) / 2.0, (start.1 + end.1) / 2.0),
            )
        } else if is_long(edge) {
            // Out of the source's bottom, left along the gap under its layer, down a lane on the
            // left, then right along the gap above the target's layer into its top: gaps only,
            // never through a node.
            let lane = MARGIN + left_channel - 30.0 - (left_lane % 8) as f64 * 18.0;
            left_lane += 1;
            let start = (from_center.0, from_center.1 + from_size.1 / 2.0);
            let end = (to_center.0, to_center.1 - to_size.1 / 2.0);
            let below = start.1 + 24.0 + (left_lane % 4) as f64 * 5.0;
            let above = end.1 - 24.0 - (left_lane % 4) as f64 * 5.0;
            (
                format!(
                    "M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} L{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} L{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} L{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    start.0, start.1, start.0, below, start.0, below, start.0 - 16.0, below,
                    lane + 16.0, below,
                    lane, below, lane, below, lane, below + 16.0,
                    lane, above - 16.0,
                    lane, above, lane, above, lane + 16.0, above,
                    end.0 - 16.0, above,
                    end.0, above, end.0, above, end.0, end.1
                ),
                (lane, (below + above) / 2.0),
            )
        } else {
            let start = (from_center.0, from_center.1 + from_size.1 / 2.0);
            let end = (to_center.0, to_center.1 - to_size.1 / 2.0);
            let middle = (start.1 + end.1) / 2.0;
            (
                format!(
                    "M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    start.0, start.1, start.0, middle, end.0, middle, end.0, end.1
                ),
                ((start.0 + end.0) / 2.0, middle),
            )
        };
        let dash = if edge.from == START || edge.to == END {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r##"<path d="{path}" fill="none" stroke="#555" stroke-opacity="0.75" stroke-width="{stroke:.1}"{dash} marker-end="url(#arrow)"><title>{} → {}: {}</title></path>"##,
            escape(&name(edge.from)),
            escape(&name(edge.to)),
            edge.count
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#222" stroke="#fff" stroke-width="3" paint-order="stroke">{}</text>"##,
            label_at.0,
            label_at.1 + 4.0,
            escape(&edge.label)
        );
    }
    for (node, &(x, y)) in center.iter().enumerate() {
        let (node_width, node_height) = size(node);
        if node == START || node == END {
            let fill = if node == START { "#2e7d32" } else { "#b71c1c" };
            let _ = writeln!(
                svg,
                r##"<ellipse cx="{x:.1}" cy="{y:.1}" rx="{:.1}" ry="{:.1}" fill="{fill}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#fff" font-weight="bold">{}</text>"##,
                node_width / 2.0,
                node_height / 2.0,
                y + 4.0,
                name(node)
            );
            continue;
        }
        let share = frequency(node) as f64 / max_frequency;
        // From pale to deep blue as the activity gets more frequent.
        let shade = |low: f64, high: f64| (low + (high - low) * share) as u8;
        let fill = format!(
            "#{:02x}{:02x}{:02x}",
            shade(222.0, 21.0),
            shade(235.0, 67.0),
            shade(247.0, 140.0)
        );
        let text_colour = if share > 0.45 { "#fff" } else { "#0d1b2a" };
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{node_width:.1}" height="{node_height:.1}" rx="8" fill="{fill}" stroke="#0d3b66" stroke-width="1.2"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{text_colour}" font-weight="bold">{}</text><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{text_colour}" font-size="11">{}</text>"##,
            x - node_width / 2.0,
            y - node_height / 2.0,
            y - 2.0,
            escape(&name(node)),
            y + 13.0,
            format_count(frequency(node))
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn map_edge(from: usize, to: usize, count: u64, median: Option<f64>, label: EdgeLabel) -> MapEdge {
    let label = match (label, median) {
        (EdgeLabel::MedianWait, Some(seconds)) => format_duration(seconds),
        _ => format_count(count),
    };
    MapEdge {
        from,
        to,
        count,
        label,
        back: false,
    }
}

/// Marks back edges (depth-first from the start, strongest edges first, so the main flow
/// points down) and gives each node the layer one below its deepest forward predecessor; the
/// end goes below everything.
fn assign_layers(node_count: usize, edges: &mut [MapEdge]) -> Vec<usize> {
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); node_count];
    for (index, edge) in edges.iter().enumerate() {
        outgoing[edge.from].push(index); // edges are sorted by count: strongest first
    }
    // 0 = not yet seen, 1 = on the path being walked, 2 = done.
    let mut state = vec![0u8; node_count];
    let mut finish_order = Vec::with_capacity(node_count);
    let roots = std::iter::once(START)
        .chain(2..node_count)
        .chain(std::iter::once(END));
    for root in roots {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            if let Some(&edge) = outgoing[node].get(top.1) {
                top.1 += 1;
                let target = edges[edge].to;
                match state[target] {
                    0 => {
                        state[target] = 1;
                        stack.push((target, 0));
                    }
                    1 => edges[edge].back = true,
                    _ => {}
                }
            } else {
                state[node] = 2;
                finish_order.push(node);
                stack.pop();
            }
        }
    }
    let mut layer = vec![0usize; node_count];
    // Reverse finishing order is a topological order of the forward edges.
    for &node in finish_order.iter().rev() {
        for &edge in &outgoing[node] {
            let edge = &edges[edge];
            if !edge.back && edge.to != node {
                layer[edge.to] = layer[edge.to].max(layer[node] + 1);
            }
        }
    }
    for depth in layer.iter_mut().skip(2) {
        *depth = (*depth).max(1);
    }
    layer[START] = 0;
    let deepest = (0..node_count)
        .filter(|&n| n != END)
        .map(|n| layer[n])
        .max()
        .unwrap_or(0);
    layer[END] = deepest + 1;
    layer
}

/// Orders each layer by the mean position of neighbours, sweeping down and up a few times.
fn order_layers(node_count: usize, layer: &[usize], edges: &[MapEdge]) -> Vec<Vec<usize>> {
    let depth = layer.iter().copied().max().unwrap_or(0) + 1;
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for node in 0..node_count {
        order[layer[node]].push(node);
    }
    let mut position = vec![0.0f64; node_count];
    let refresh = |order: &Vec<Vec<usize>>, position: &mut Vec<f64>| {
        for nodes in order {
            for (index, &node) in nodes.iter().enumerate() {
                position[node] = index as f64 - nodes.len() as f64 / 2.0;
            }
        }
    };
    refresh(&order, &mut position);
    for sweep in 0..8 {
        let downward = sweep % 2 == 0;
        let layers: Vec<usize> = if downward {
            (1..depth).collect()
        } else {
            (0..depth.saturating_sub(1)).rev().collect()
        };
        for current in layers {
            let mut keyed: Vec<(f64, usize)> = order[current]
                .iter()
                .map(|&node| {
                    let (sum, weight) = edges
                        .iter()
                        .filter_map(|edge| {
                            let neighbour =
                                if downward && edge.to == node && layer[edge.from] < current {
                                    edge.from
                                } else if !downward && edge.from == node && layer[edge.to] > current
                                {
                                    edge.to
                                } else {
                                    return None;
                                };
                            Some((position[neighbour] * edge.count as f64, edge.count as f64))
                        })
                        .fold((0.0, 0.0), |acc, (s, w)| (acc.0 + s, acc.1 + w));
                    (
                        if weight > 0.0 {
                            sum / weight
                        } else {
                            position[node]
                        },
                        node,
                    )
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            order[current] = keyed.into_iter().map(|(_, node)| node).collect();
            refresh(&order, &mut position);
        }
    }
    order
}

/// `1234567` → `1,234,567`.
fn format_count(count: u64) -> String {
    let digits = count.to_string();
    let first_group = match digits.len() % 3 {
        0 => 3,
        other => other,
    };
    let mut grouped = digits[..first_group].to_owned();
    for group in digits.as_bytes()[first_group..].chunks(3) {
        grouped.push(',');
        grouped.push_str(std::str::from_utf8(group).unwrap_or(""));
    }
    grouped
}

/// A waiting time in the largest unit that keeps it readable: `45 s`, `12 min`, `3.5 h`, `2.1 d`.
fn format_duration(seconds: f64) -> String {
    match seconds {
        s if s < 60.0 => format!("{s:.0} s"),
        s if s < 3600.0 => format!("{:.0} min", s / 60.0),
        s if s < 86_400.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations_read_as_people_write_them() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
        ];
        for (count, expected) in cases {
            assert_eq!(format_count(count), expected);
        }
        let cases = [
            (42.0, "42 s"),
            (720.0, "12 min"),
            (12_600.0, "3.5 h"),
            (181_440.0, "2.1 d"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(format_duration(seconds), expected);
        }
    }
}
