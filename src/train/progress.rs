//! Training progress: burn-train's terminal dashboard when one is given (on a terminal), plain
//! lines otherwise (logs, CI: one line per split and epoch with its metrics). Either way each
//! validated epoch is appended to `epochs.jsonl` in the run folder, which is how the best epoch
//! is found again after a resume. A loss that is no longer a number stops the run.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use burn::train::Interrupter;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation, MetricsRendererTraining,
};
use serde::{Deserialize, Deserializer, Serialize};

/// One validated epoch, as a line of `epochs.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Each metric's value for the whole epoch ("valid BLEU", "train Loss", …).
    #[serde(deserialize_with = "epoch_values")]
    pub metrics: HashMap<String, f64>,
    pub seconds: f64,
}

/// Metric values as numbers, or as runs before numbers wrote them: burn-train's display text,
/// "epoch 3.10 - batch 3.66" or "2.12", whose first number is the epoch's.
fn epoch_values<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HashMap<String, f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(f64),
        Text(String),
    }
    let values = HashMap::<String, Value>::deserialize(deserializer)?;
    Ok(values
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::Number(number) => Some((name, number)),
            Value::Text(text) => {
                let number = text.strip_prefix("epoch ").unwrap_or(&text).split(' ').next()?.parse().ok()?;
                Some((name, number))
            }
        })
        .collect())
}

/// Set by [`PlainProgress`] when the training loss stops being a number: the epoch it happened in.
#[derive(Debug, Clone, Default)]
pub struct Divergence(Arc<AtomicUsize>);

impl Divergence {
    /// The epoch whose loss became NaN or infinite, if one did.
    pub fn epoch(&self) -> Option<usize> {
        self.0.load(Ordering::Relaxed).checked_sub(1)
    }
}

pub struct PlainProgress {
    names: HashMap<MetricId, String>,
    /// Each metric's display text and value so far this epoch, by "split name".
    latest: HashMap<String, (String, f64)>,
    epoch: usize,
    split: String,
    epoch_start: Instant,
    log: PathBuf,
    /// The dashboard that draws instead of plain lines.
    dashboard: Option<Box<dyn MetricsRenderer>>,
    interrupter: Interrupter,
    divergence: Divergence,
}

impl PlainProgress {
    pub fn new(
        log: PathBuf,
        dashboard: Option<Box<dyn MetricsRenderer>>,
        interrupter: Interrupter,
        divergence: Divergence,
    ) -> Self {
        Self {
            names: HashMap::new(),
            latest: HashMap::new(),
            epoch: 0,
            split: String::new(),
            epoch_start: Instant::now(),
            log,
            dashboard,
            interrupter,
            divergence,
        }
    }

    fn record(&mut self, split: &str, state: &MetricState) {
        let (MetricState::Generic(entry) | MetricState::Numeric(entry, _)) = state;
        let name = self.names.get(&entry.metric_id).cloned().unwrap_or_else(|| "metric".into());
        // The last numeric entry of an epoch is burn-train's final value for the whole epoch.
        let value = match state {
            MetricState::Numeric(_, Some(numeric)) => numeric.current(),
            _ => f64::NAN,
        };
        if split == "train" && name == "Loss" && !value.is_finite() && self.divergence.epoch().is_none() {
            self.divergence.0.store(self.epoch + 1, Ordering::Relaxed);
            self.print(&format!("epoch {}: the training loss is {value}; stopping", self.epoch));
            self.interrupter.stop(Some("the training loss is not a number"));
        }
        self.latest.insert(format!("{split} {name}"), (entry.serialized_entry.formatted.clone(), value));
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
            .map(|(k, (text, _))| format!("{k} {text}"))
            .collect();
        line.sort();
        let seconds = self.epoch_start.elapsed().as_secs_f64();
        self.print(&format!("epoch {} {prefix} ({seconds:.0} s): {}", self.epoch, line.join(", ")));
        if let Some(d) = self.dashboard.as_mut() {
            d.end_split();
        }
        if prefix == "valid" {
            // JSON has no NaN: a metric without a value this epoch is left out.
            let metrics = self
                .latest
                .iter()
                .filter(|(_, (_, value))| value.is_finite())
                .map(|(name, &(_, value))| (name.clone(), value))
                .collect();
            let record = EpochRecord { epoch: self.epoch, metrics, seconds };
            let written = OpenOptions::new().create(true).append(true).open(&self.log).and_then(|mut f| {
                writeln!(f, "{}", serde_json::to_string(&record).expect("names and numbers"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::train::metric::{MetricAttributes, MetricEntry, NumericEntry, SerializedEntry};

    #[test]
    fn a_training_loss_that_is_no_number_stops_the_run() {
        let interrupter = Interrupter::new();
        let divergence = Divergence::default();
        let log = std::env::temp_dir().join(format!("nl2py-progress-{}.jsonl", std::process::id()));
        let mut progress = PlainProgress::new(log, None, interrupter.clone(), divergence.clone());
        let id = MetricId::new(Arc::new("loss".into()));
        let name = Arc::new("Loss".to_string());
        let attributes = MetricAttributes::None;
        progress.register_metric(MetricDefinition {
            metric_id: id.clone(),
            name,
            description: None,
            attributes,
        });
        let loss = |value: f64| {
            let entry = MetricEntry::new(id.clone(), SerializedEntry::new(value.to_string(), String::new()));
            MetricState::Numeric(entry, Some(NumericEntry::Value(value)))
        };
        progress.start(3, 2, None, None);
        progress.update_train(loss(3.5));
        progress.update_valid(loss(f64::INFINITY));
        assert!(!interrupter.should_stop() && divergence.epoch().is_none(), "only the training loss counts");
        progress.update_train(loss(f64::NAN));
        assert!(interrupter.should_stop());
        assert_eq!(divergence.epoch(), Some(2));
    }

    #[test]
    fn epoch_records_read_numbers_and_the_display_text_older_runs_wrote() {
        let old = r#"{"epoch":1,"metrics":{"train Loss":"epoch 5.09 - batch 4.00","valid BLEU":"2.12","odd":"n/a"},"seconds":6.5}"#;
        let record: EpochRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.metrics, HashMap::from([("train Loss".into(), 5.09), ("valid BLEU".into(), 2.12)]));
        let new =
            EpochRecord { epoch: 2, metrics: HashMap::from([("valid Loss".into(), 3.5)]), seconds: 1.0 };
        let read: EpochRecord = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(read.metrics, new.metrics);
    }
}
