//! `rapport mine` without the rapport binary: `cargo run --release -p mining --example mine --
//! dfg|variants|map|export FILE [--classifier name|name+lifecycle] [--svg OUT.svg] [--activities 0.8]
//! [--edges 0.5] [--label count|wait] [--xes OUT.xes]`. Prints the same JSON as the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mining::report::{variants_report, DfgReport};
use mining::svg::{process_map_svg, EdgeLabel, MapOptions};
use mining::{read_log_file, Classifier, Dfg, Variants};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (command, file) = (&args[0], Path::new(&args[1]));
    let classifier: Classifier =
        value("--classifier").map_or(Classifier::Name, |c| c.parse().unwrap());
    let log = read_log_file(file, None).unwrap();
    match command.as_str() {
        "dfg" => {
            let dfg = Dfg::discover(&log, &log.classify(classifier));
            println!("{}", serde_json::to_string(&DfgReport::new(&dfg)).unwrap());
        }
        "variants" => {
            let variants = Variants::discover(&log, &log.classify(classifier));
            println!(
                "{}",
                serde_json::to_string(&variants_report(&variants)).unwrap()
            );
        }
        "map" => {
            let options = MapOptions {
                activities: value("--activities").map_or(1.0, |v| v.parse().unwrap()),
                edges: value("--edges").map_or(1.0, |v| v.parse().unwrap()),
                label: if value("--label").as_deref() == Some("wait") {
                    EdgeLabel::MedianWait
                } else {
                    EdgeLabel::Count
                },
                classifier,
            };
            std::fs::write(value("--svg").unwrap(), process_map_svg(&log, &options)).unwrap();
        }
        "export" => {
            let mut output =
                std::io::BufWriter::new(std::fs::File::create(value("--xes").unwrap()).unwrap());
            mining::write_xes(&log, &mut output).unwrap();
        }
        other => panic!("unknown command {other}"),
    }
}
