//! Training progress: burn-train's terminal dashboard when one is given (on a terminal), plain
//! lines otherwise (logs, CI: one line per split and epoch with its metrics). Either way each
//! validated epoch is appended to `epochs.jsonl` in the run folder, which is how the best epoch
//! is found again after a resume.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation, MetricsRendererTraining,
};
use serde::{Deserialize, Serialize};

/// One validated epoch, as a line of `epochs.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub metrics: HashMap<String, String>,
    pub seconds: f64,
}

pub struct PlainProgress {
    names: HashMap<MetricId, String>,
    latest: HashMap<String, String>,
    epoch: usize,
    split: String,
    epoch_start: Instant,
    log: PathBuf,
    /// The dashboard that draws instead of plain lines.
    dashboard: Option<Box<dyn MetricsRenderer>>,
}

impl PlainProgress {
    pub fn new(log: PathBuf, dashboard: Option<Box<dyn MetricsRenderer>>) -> Self {
        Self {
            names: HashMap::new(),
            latest: HashMap::new(),
            epoch: 0,
            split: String::new(),
            epoch_start: Instant::now(),
            log,
            dashboard,
        }
    }

    fn record(&mut self, split: &str, state: &MetricState) {
        let (MetricState::Generic(entry) | MetricState::Numeric(entry, _)) = state;
        let name = self.names.get(&entry.metric_id).cloned().unwrap_or_else(|| "metric".into());
        self.latest.insert(format!("{split} {name}"), entry.serialized_entry.formatted.clone());
    }

    fn print(&self, line: &str) {
        if self.dashboard.is_none() {
            println!("{line}");
        }
    }
}

impl MetricsRendererTraining for PlainProgress {
    fn update_train(&mut self, state: MetricState) {
        self.record("train", &state);
        if let Some(d) = self.dashboard.as_mut() {
            d.update_train(state);
        }
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record("valid", &state);
        if let Some(d) = self.dashboard.as_mut() {
            d.update_valid(state);
        }
    }
}

impl MetricsRendererEvaluation for PlainProgress {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        self.record("test", &state);
        if let Some(d) = self.dashboard.as_mut() {
            d.update_test(name, state);
        }
    }
}

impl TrainingProgressLogger for PlainProgress {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        items: Option<usize>,
        label: Option<&str>,
    ) {
        self.epoch = starting_epoch;
        self.print(&format!("training epochs {starting_epoch}..={total_epochs}"));
        if let Some(d) = self.dashboard.as_mut() {
            d.start(total_epochs, starting_epoch, items, label);
        }
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch_start = Instant::now();
        if let Some(d) = self.dashboard.as_mut() {
            d.update_epoch(epoch);
        }
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        if let Some(d) = self.dashboard.as_mut() {
            d.start_split(split, total_items);
        }
    }

    fn update_split(&mut self, items_processed: usize) {
        if let Some(d) = self.dashboard.as_mut() {
            d.update_split(items_processed);
        }
    }

    fn end_split(&mut self) {
        let prefix = if self.split.to_lowercase().starts_with("valid") { "valid" } else { "train" };
        let mut line: Vec<String> = self
            .latest
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        line.sort();
        let seconds = self.epoch_start.elapsed().as_secs_f64();
        self.print(&format!("epoch {} {prefix} ({seconds:.0} s): {}", self.epoch, line.join(", ")));
        if let Some(d) = self.dashboard.as_mut() {
            d.end_split();
        }
        if prefix == "valid" {
            let record = EpochRecord { epoch: self.epoch, metrics: self.latest.clone(), seconds };
            let written =
                OpenOptions::new().create(true).append(true).open(&self.log).and_then(|mut f| {
                    writeln!(f, "{}", serde_json::to_string(&record).expect("plain strings"))
                });
            if let Err(e) = written {
                eprintln!("warning: cannot append to {}: {e}", self.log.display());
            }
            // Validation closes an epoch.
            self.epoch += 1;
            self.epoch_start = Instant::now();
        }
    }

    fn end(&mut self) {
        if let Some(d) = self.dashboard.as_mut() {
            d.end();
        }
    }

    fn log_event_training(&mut self, event: String) {
        // Per-iteration events would flood a log; epochs are reported by `end_split`.
        if event != "Iteration" {
            self.print(&event);
        }
        if let Some(d) = self.dashboard.as_mut() {
            d.log_event_training(event);
        }
    }
}

impl EvaluationProgressLogger for PlainProgress {
    fn start_global_progress(&mut self, _: usize) {}
    fn start_test(&mut self, _: &str, _: usize) {}
    fn update_test_progress(&mut self, _: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, event: String) {
        self.print(&event);
    }
}

impl MetricsRenderer for PlainProgress {
    fn manual_close(&mut self) {
        if let Some(d) = self.dashboard.as_mut() {
            d.manual_close();
        }
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id.clone(), definition.name.to_string());
        if let Some(d) = self.dashboard.as_mut() {
            d.register_metric(definition);
        }
    }
}
