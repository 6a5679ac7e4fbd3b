//! Training, native only (feature `train`): the recipe in one place ([`TrainingConfig`] with
//! every default, [`train`]), what burn-train's Learner needs from the model
//! ([`objective`]), dev BLEU as a burn-train metric, and the run folder's progress log.

mod bleu;
mod config;
pub mod objective;
mod progress;
mod recipe;

pub use config::{Corpus, Init, TrainingConfig};
pub use objective::loss;
pub use progress::EpochRecord;
pub use recipe::{
    EPOCHS_FILE, EpochData, Launch, Start, TrainingData, best_epoch, checkpoint_epochs, checkpoint_model,
    epoch_data, optimizer, scheduler, train,
};
