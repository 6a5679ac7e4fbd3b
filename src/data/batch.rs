//! Prepared examples as model input: token ids, truncated to the model's lengths, grouped into
//! batches of similar length (little padding) and turned into tensors.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::prepare::Example;
use crate::model::EncoderInput;
use crate::text::prompt::Slots;
use crate::text::vocab::{BOS_ID, EOS_ID, PAD_ID, Vocab};

/// One example as ids, with what scoring its generated code needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedExample {
    pub prompt: Vec<usize>,
    /// Retrieved examples' code ids for a retrieval model (see [`crate::retrieve`]); empty otherwise.
    #[serde(default)]
    pub examples: Vec<usize>,
    /// Code ids without `<bos>`/`<eos>`.
    pub code: Vec<usize>,
    pub slots: Slots,
    /// The source's code text: the BLEU reference.
    pub reference: String,
}

impl EncodedExample {
    /// Encodes an example; the prompt is cut to `max_prompt_len`, the code to `max_code_len - 1`.
    pub fn new(
        example: &Example,
        prompt_vocab: &Vocab,
        code_vocab: &Vocab,
        max_prompt_len: usize,
        max_code_len: usize,
    ) -> Self {
        let mut prompt = prompt_vocab.encode(&example.prompt_tokens);
        prompt.truncate(max_prompt_len);
        let mut code = code_vocab.encode_code(&example.code_tokens);
        code.truncate(max_code_len.saturating_sub(1));
        Self {
            prompt,
            examples: Vec::new(),
            code,
            slots: example.slots.clone(),
            reference: example.snippet.clone(),
        }
    }

    /// An example turned around for a reverse model: its code ids (cut to `max_code_in`) are
    /// the input, its prompt ids (cut to `max_prompt_out - 1`) the target.
    pub fn reversed(
        example: &Example,
        prompt_vocab: &Vocab,
        code_vocab: &Vocab,
        max_code_in: usize,
        max_prompt_out: usize,
    ) -> Self {
        let mut code = code_vocab.encode_code(&example.code_tokens);
        code.truncate(max_code_in);
        let mut prompt = prompt_vocab.encode(&example.prompt_tokens);
        prompt.truncate(max_prompt_out.saturating_sub(1));
        Self {
            prompt: code,
            examples: Vec::new(),
            code: prompt,
            slots: example.slots.clone(),
            reference: example.prompt.clone(),
        }
    }

    /// The same example with retrieved examples' code ids beside its prompt.
    pub fn with_examples(self, examples: Vec<usize>) -> Self {
        Self { examples, ..self }
    }

    /// An example's code alone, for a code language model: the prompt is a lone `<bos>` and code
    /// longer than `window` tokens becomes consecutive windows of at most `window` tokens.
    pub fn code_windows(example: &Example, code_vocab: &Vocab, window: usize) -> Vec<Self> {
        let code = code_vocab.encode_code(&example.code_tokens);
        code.chunks(window.max(1))
            .map(|chunk| Self {
                prompt: vec![BOS_ID],
                examples: Vec::new(),
                code: chunk.to_vec(),
                slots: Slots::default(),
                reference: String::new(),
            })
            .collect()
    }
}

/// A batch as tensors, right-padded with `<pad>`.
///
/// # Shapes
/// - input: prompts `[batch, source]` and, when any example has some, retrieved examples
///   `[batch, example]`; code_input (`<bos>` + code) and code_target (code + `<eos>`): `[batch, target]`
#[derive(Debug, Clone)]
pub struct Batch {
    pub input: EncoderInput,
    pub code_input: Tensor<2, Int>,
    pub code_target: Tensor<2, Int>,
    pub examples: Vec<EncodedExample>,
}

/// Prompts and their retrieved examples' code as the encoder's padded input; no examples tensor
/// when no row has any.
pub(crate) fn encoder_input(
    prompts: &[Vec<usize>],
    examples: &[Vec<usize>],
    device: &Device,
) -> EncoderInput {
    let input = EncoderInput::new(padded(prompts, device));
    match examples.iter().any(|e| !e.is_empty()) {
        true => input.with_examples(padded(examples, device)),
        false => input,
    }
}

/// Rows of ids as one tensor, right-padded with `<pad>` (at least one column).
fn padded(rows: &[Vec<usize>], device: &Device) -> Tensor<2, Int> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let data: Vec<i64> = rows
        .iter()
        .flat_map(|row| {
            row.iter().map(|&id| id as i64).chain(std::iter::repeat_n(PAD_ID as i64, width - row.len()))
        })
        .collect();
    Tensor::from_data(TensorData::new(data, [rows.len(), width]), device)
}

impl Batch {
    pub fn new(examples: Vec<EncodedExample>, device: &Device) -> Self {
        let prompts: Vec<Vec<usize>> = examples.iter().map(|e| e.prompt.clone()).collect();
        let retrieved: Vec<Vec<usize>> = examples.iter().map(|e| e.examples.clone()).collect();
        let input = encoder_input(&prompts, &retrieved, device);
        let inputs: Vec<Vec<usize>> =
            examples.iter().map(|e| [&[BOS_ID], e.code.as_slice()].concat()).collect();
        let targets: Vec<Vec<usize>> =
            examples.iter().map(|e| [e.code.as_slice(), &[EOS_ID]].concat()).collect();
        Self { input, code_input: padded(&inputs, device), code_target: padded(&targets, device), examples }
    }
}

/// Groups examples into batches of similar code length, each holding at most `max_tokens`
/// padded target tokens and `max_batch` examples. Deterministic: sorted by length, then id order.
pub fn bucket(
    mut examples: Vec<EncodedExample>,
    max_tokens: usize,
    max_batch: usize,
) -> Vec<Vec<EncodedExample>> {
    examples.sort_by_key(|e| (e.code.len(), e.prompt.len()));
    let mut batches = Vec::new();
    let mut current: Vec<EncodedExample> = Vec::new();
    for example in examples {
        let width = example.code.len() + 1;
        if !current.is_empty() && ((current.len() + 1) * width > max_tokens || current.len() == max_batch) {
            batches.push(std::mem::take(&mut current));
        }
        current.push(example);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(code_len: usize) -> EncodedExample {
        EncodedExample {
            prompt: vec![5; 3],
            examples: Vec::new(),
            code: vec![7; code_len],
            slots: Slots::default(),
            reference: String::new(),
        }
    }

    #[test]
    fn batches_pad_and_shift_the_target() {
        let device = Device::flex();
        let batch = Batch::new(vec![example(2), example(1)], &device);
        let input: Vec<i64> = batch.code_input.into_data().try_into_vec_as().unwrap();
        let target: Vec<i64> = batch.code_target.into_data().try_into_vec_as().unwrap();
        assert_eq!(input, [1, 7, 7, 1, 7, 0]);
        assert_eq!(target, [7, 7, 2, 7, 2, 0]);
    }

    #[test]
    fn long_code_becomes_windows() {
        let vocab = Vocab::build(&[("x".to_string(), 5)].into_iter().collect(), 1);
        let example = Example {
            source: "s".into(),
            id: "1".into(),
            prompt: "p".into(),
            snippet: String::new(),
            prompt_tokens: vec!["p".into()],
            code_tokens: vec!["x".into(); 7],
            slots: Slots::default(),
            retrieved: Vec::new(),
            tests: Vec::new(),
            attribution: None,
        };
        let windows = EncodedExample::code_windows(&example, &vocab, 3);
        assert_eq!(windows.iter().map(|w| w.code.len()).collect::<Vec<_>>(), [3, 3, 1]);
        assert!(windows.iter().all(|w| w.prompt == [BOS_ID] && w.code.iter().all(|&id| id == vocab.id("x"))));
    }

    #[test]
    fn buckets_respect_the_token_budget() {
        let batches = bucket((1..=20).map(example).collect(), 40, 8);
        assert!(batches.iter().all(|b| b.len() * (b.last().unwrap().code.len() + 1) <= 40 || b.len() == 1));
        assert!(batches.iter().all(|b| b.len() <= 8));
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 20);
    }
}
