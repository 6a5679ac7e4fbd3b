//! The loops of one decoder step on the CPU ([`super::cpu_decoder`]), on `wide`'s 4-lane `f32x4`
//! and its 16-bit integer vectors: wasm simd128 in the page, SSE natively, plain arrays where a
//! target has neither. A product keeps several vector accumulators apart and adds them up once at
//! the end. 8-bit weights multiply 16-bit integer activations ([`Split`]) with `i16x8::dot`, one
//! instruction for eight products in wasm and SSE2, instead of being widened to floats; on x86-64
//! with AVX2 the same loop runs on 256-bit vectors ([`tile_sums_avx2`]), sixteen products an
//! instruction.

use wide::{f32x4, i16x8, i32x4};

/// Floats a loop takes per step: two vectors.
const BLOCK: usize = 8;

#[inline(always)]
fn halves(block: &[f32; BLOCK]) -> (f32x4, f32x4) {
    let low: [f32; 4] = block[..4].try_into().expect("4 of 8");
    let high: [f32; 4] = block[4..].try_into().expect("4 of 8");
    (f32x4::from(low), f32x4::from(high))
}

/// Σ a[i]·b[i].
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (a_blocks, a_rest) = a.as_chunks::<BLOCK>();
    let (b_blocks, b_rest) = b.as_chunks::<BLOCK>();
    let (mut low, mut high) = (f32x4::ZERO, f32x4::ZERO);
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        let ((x0, x1), (y0, y1)) = (halves(x), halves(y));
        low = x0.mul_add(y0, low);
        high = x1.mul_add(y1, high);
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    (low + high).reduce_add() + rest
}

/// The dot products of four weight rows with one `x`: each block of `x` is loaded once for all
/// four (eight vector accumulators, which fit the sixteen registers of x86-64 and of V8's wasm).
#[inline]
fn dot4(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let (x_blocks, x_rest) = x.as_chunks::<BLOCK>();
    let [w0, w1, w2, w3] = w.map(|w| w.as_chunks::<BLOCK>().0);
    let mut sums = [(f32x4::ZERO, f32x4::ZERO); 4];
    let blocks = x_blocks.iter().zip(w0).zip(w1).zip(w2).zip(w3);
    for ((((x, w0), w1), w2), w3) in blocks {
        let (x0, x1) = halves(x);
        for (sum, w) in sums.iter_mut().zip([w0, w1, w2, w3]) {
            let (w_low, w_high) = halves(w);
            sum.0 = w_low.mul_add(x0, sum.0);
            sum.1 = w_high.mul_add(x1, sum.1);
        }
    }
    let tail = x_blocks.len() * BLOCK;
    std::array::from_fn(|k| (sums[k].0 + sums[k].1).reduce_add() + dot(&w[k][tail..], x_rest))
}

/// `y += a · x`.
#[inline]
pub fn add_scaled(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Values per 8-bit block, as `bundle::int8` stores them.
pub const QUANT_BLOCK: usize = 32;

/// How a `Dense` holds weights that are exactly 8-bit blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Float,
    /// 8-bit blocks where the weights are exactly that; float otherwise.
    KeepInt8,
}

impl Storage {
    /// The faster on every target this was measured on. A step of one row waits on reading its
    /// weights more than on multiplying them, and a quarter of the bytes pays: in wasm one row's
    /// step of the shipped model took 0.9 ms against 2.0 ms in float (headless Chromium);
    /// natively 1.0–1.1 ms against 2.4 ms, and greedy generation 680–760 tokens/s against 410
    /// (`nl2py bench`, x86-64; float weights, 16 MB for the decoder, do not stay in cache).
    /// Those were int8 weights widened to floats; their integer products (`Split`) have since
    /// taken one row's step to 0.34 ms natively, and to 0.18 ms with AVX2.
    pub const FASTEST: Storage = Storage::KeepInt8;
}

/// A weight matrix as a step reads it.
#[derive(Clone)]
pub enum Weights {
    /// `[outputs, inputs]` floats: each output one dot product over contiguous memory.
    Rows(Vec<f32>),
    /// 8-bit blocks of [`QUANT_BLOCK`] outputs (an int8 bundle's `Linear`, blocked along its
    /// last axis, the outputs): values in [`Tiles`], one scale per block and input
    /// `[outputs / 32, inputs]`.
    OutputBlocks { values: Tiles, scales: Vec<f32> },
    /// 8-bit blocks of [`QUANT_BLOCK`] inputs (an int8 bundle's embedding, blocked along the
    /// model width): values in [`Tiles`], one scale per output and block laid out as the tiles,
    /// `[outputs / 16, inputs / 32, 16]`.
    InputBlocks { values: Tiles, scales: Vec<f32> },
}

/// Outputs a [`Tiles`] tile holds: four i32x4 lanes of sums.
const TILE: usize = 16;

/// 8-bit weights as `i16x8::dot` reads them, outputs in lanes: `[outputs / 16, inputs / 2, 16,
/// 2]` — a tile of 16 outputs, then each pair of inputs (`dot` adds neighbouring products) with
/// the pair's two values for each output side by side. Outputs are padded to a whole tile and an
/// odd last input is paired with a zero, both with zero weights.
#[derive(Clone)]
pub struct Tiles {
    values: Vec<i8>,
    /// Input pairs per tile.
    pairs: usize,
}

impl Tiles {
    /// `weight(output, input)` for every output and input.
    fn new(outputs: usize, inputs: usize, weight: impl Fn(usize, usize) -> i8) -> Self {
        let pairs = inputs.div_ceil(2);
        let mut values = vec![0; outputs.div_ceil(TILE) * pairs * TILE * 2];
        for o in 0..outputs {
            for i in 0..inputs {
                values[((o / TILE * pairs + i / 2) * TILE + o % TILE) * 2 + i % 2] = weight(o, i);
            }
        }
        Tiles { values, pairs }
    }

    fn get(&self, output: usize, input: usize) -> i8 {
        self.values[((output / TILE * self.pairs + input / 2) * TILE + output % TILE) * 2 + input % 2]
    }

    /// Tile `t`'s values, `[pairs, 16, 2]`.
    fn tile(&self, t: usize) -> &[i8] {
        &self.values[t * self.pairs * TILE * 2..(t + 1) * self.pairs * TILE * 2]
    }
}

/// Where [`Weights::InputBlocks`] keeps the scale of `output`'s block `block` (of `blocks` a row):
/// `[outputs / 16, blocks, 16]`, laid out as the tiles.
fn tiled_scale(output: usize, block: usize, blocks: usize) -> usize {
    (output / TILE * blocks + block) * TILE + output % TILE
}

/// The i8 values and scales of `values` read as consecutive blocks of [`QUANT_BLOCK`], when
/// every block is exactly `q · s` with integer `q` in [-127, 127] and `s` its largest magnitude
/// / 127 — as weights an int8 bundle loaded are (`q · s` and `127 · s` are exact in f32, `s`
/// being an f16) — and `None` otherwise (f32 or f16 weights).
fn int8_blocks(values: &[f32], storage: Storage) -> Option<(Vec<i8>, Vec<f32>)> {
    if storage == Storage::Float || !values.len().is_multiple_of(QUANT_BLOCK) {
        return None;
    }
    let mut quantized = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len() / QUANT_BLOCK);
    for block in values.chunks_exact(QUANT_BLOCK) {
        let scale = block.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
        for &v in block {
            let q = if scale > 0.0 { v / scale } else { 0.0 };
            if q != q.round() || q.abs() > 127.0 || q * scale != v {
                return None;
            }
            quantized.push(q as i8);
        }
        scales.push(scale);
    }
    Some((quantized, scales))
}

/// A linear layer for one decoder step.
#[derive(Clone)]
pub struct Dense {
    pub weights: Weights,
    /// `[outputs]`, when the layer has a bias.
    pub bias: Option<Vec<f32>>,
    pub inputs: usize,
    pub outputs: usize,
}

impl Dense {
    /// A layer from Burn's `Linear` weight (`[inputs, outputs]`): with [`Storage::KeepInt8`],
    /// 8-bit blocks along the outputs when the weights are exactly that (an int8 bundle); else
    /// float rows.
    pub fn from_linear(
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        inputs: usize,
        outputs: usize,
        storage: Storage,
    ) -> Self {
        let weights = match int8_blocks(&weight, storage) {
            Some((values, scales)) if outputs.is_multiple_of(QUANT_BLOCK) && inputs <= MAX_INT8_INPUTS => {
                // Burn's layout: values [inputs, outputs], scales [inputs, outputs / 32].
                let (blocks, scales_of) = (outputs / QUANT_BLOCK, scales);
                let tiles = Tiles::new(outputs, inputs, |o, i| values[i * outputs + o]);
                // Scales by block, then input: [outputs / 32, inputs].
                let scales = (0..blocks).flat_map(|b| (0..inputs).map(move |i| (b, i)));
                let scales = scales.map(|(b, i)| scales_of[i * blocks + b]).collect();
                Weights::OutputBlocks { values: tiles, scales }
            }
            _ => {
                let mut rows = vec![0.0; weight.len()];
                for (i, row) in weight.chunks_exact(outputs).enumerate() {
                    for (o, &w) in row.iter().enumerate() {
                        rows[o * inputs + i] = w;
                    }
                }
                Weights::Rows(rows)
            }
        };
        Dense { weights, bias, inputs, outputs }
    }

    /// A layer without bias whose weight is given a row per output (`[outputs, inputs]`, an
    /// embedding table used as the output projection): with [`Storage::KeepInt8`], 8-bit blocks
    /// along each row when the weights are exactly that; else float rows.
    pub fn from_rows(weight: Vec<f32>, inputs: usize, outputs: usize, storage: Storage) -> Self {
        let weights = match int8_blocks(&weight, storage) {
            Some((values, scales)) if inputs.is_multiple_of(QUANT_BLOCK) && inputs <= MAX_INT8_INPUTS => {
                // values [outputs, inputs], scales [outputs, inputs / 32].
                let blocks = inputs / QUANT_BLOCK;
                let tiles = Tiles::new(outputs, inputs, |o, i| values[o * inputs + i]);
                let mut tiled = vec![0.0; outputs.div_ceil(TILE) * blocks * TILE];
                for (o, scales) in scales.chunks_exact(blocks).enumerate() {
                    for (b, &scale) in scales.iter().enumerate() {
                        tiled[tiled_scale(o, b, blocks)] = scale;
                    }
                }
                Weights::InputBlocks { values: tiles, scales: tiled }
            }
            _ => Weights::Rows(weight),
        };
        Dense { weights, bias: None, inputs, outputs }
    }

    /// Whether the weights stayed 8-bit.
    pub fn is_int8(&self) -> bool {
        !matches!(self.weights, Weights::Rows(_))
    }

    /// Output `o`'s weights as floats (an embedding lookup); only for row layouts.
    pub fn row(&self, o: usize, out: &mut Vec<f32>) {
        out.clear();
        match &self.weights {
            Weights::Rows(rows) => out.extend_from_slice(&rows[o * self.inputs..(o + 1) * self.inputs]),
            Weights::InputBlocks { values, scales } => {
                let blocks = self.inputs / QUANT_BLOCK;
                let scale = |i: usize| scales[tiled_scale(o, i / QUANT_BLOCK, blocks)];
                out.extend((0..self.inputs).map(|i| f32::from(values.get(o, i)) * scale(i)));
            }
            Weights::OutputBlocks { .. } => unreachable!("embeddings are stored by rows"),
        }
    }

    /// `y[r] = x[r] · Wᵀ + bias` for every row of `x`; `split` holds the 8-bit products'
    /// integer activations between calls. On x86-64 with AVX2 (found at run time) the 8-bit
    /// products take 256-bit vectors ([`tile_sums_avx2`]); everywhere else `wide`'s 128-bit
    /// ones (wasm simd128, SSE2).
    ///
    /// # Shapes
    /// - x: `[rows, inputs]` → y: `[rows, outputs]` (resized)
    pub fn forward(&self, x: &[f32], y: &mut Vec<f32>, split: &mut Split) {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V3::try_new() {
            // SAFETY: a `V3` exists only where the processor has AVX2.
            return unsafe { self.forward_avx2(x, y, split, simd) };
        }
        self.forward_with(x, y, split, Portable)
    }

    /// [`Dense::forward`] compiled for AVX2, where `simd`'s instructions are inlined. (pulp's
    /// `vectorize` left the closure around this out of line, and every intrinsic a call: 15×
    /// slower.)
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn forward_avx2(&self, x: &[f32], y: &mut Vec<f32>, split: &mut Split, simd: pulp::x86::V3) {
        self.forward_with(x, y, split, simd)
    }

    /// [`Dense::forward`] with `simd`'s loops for the 8-bit products.
    #[inline(always)]
    fn forward_with(&self, x: &[f32], y: &mut Vec<f32>, split: &mut Split, simd: impl Int8Loops) {
        let (inputs, outputs) = (self.inputs, self.outputs);
        let rows = x.len() / inputs;
        y.resize(rows * outputs, 0.0);
        match &self.weights {
            Weights::Rows(weight) => {
                // Four outputs at a time; their rows serve every input row while they are in L1.
                let mut quads = weight.chunks_exact(4 * inputs);
                for (q, w) in (&mut quads).enumerate() {
                    let w: [&[f32]; 4] = std::array::from_fn(|k| &w[k * inputs..(k + 1) * inputs]);
                    for (r, x) in x.chunks_exact(inputs).enumerate() {
                        y[r * outputs + 4 * q..][..4].copy_from_slice(&dot4(w, x));
                    }
                }
                let first = outputs - quads.remainder().len() / inputs;
                for (o, w) in (first..).zip(quads.remainder().chunks_exact(inputs)) {
                    for (r, x) in x.chunks_exact(inputs).enumerate() {
                        y[r * outputs + o] = dot(w, x);
                    }
                }
            }
            Weights::OutputBlocks { values, scales } => {
                for (b, scales) in scales.chunks_exact(inputs).enumerate() {
                    for (x, y) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(outputs)) {
                        // This block's scales belong to the inputs: x · scale is what its 8-bit
                        // values multiply.
                        let y = &mut y[b * QUANT_BLOCK..(b + 1) * QUANT_BLOCK];
                        let Some(scale) = simd.split(split, x, Some(scales)) else {
                            y.fill(f32::NAN);
                            continue;
                        };
                        for (half, y) in y.chunks_exact_mut(TILE).enumerate() {
                            let [high, low] =
                                simd.tile_sums(values.tile(2 * b + half), &split.high, &split.low);
                            for (y, (high, low)) in y.chunks_exact_mut(4).zip(high.into_iter().zip(low)) {
                                y.copy_from_slice(&(join(high, low) * f32x4::splat(scale)).to_array());
                            }
                        }
                    }
                }
            }
            Weights::InputBlocks { values, scales } => {
                let blocks = inputs / QUANT_BLOCK;
                for (x, y) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(outputs)) {
                    let Some(scale) = simd.split(split, x, None) else {
                        y.fill(f32::NAN);
                        continue;
                    };
                    for (t, scales) in scales.chunks_exact(blocks * TILE).enumerate() {
                        let tile = values.tile(t);
                        let mut totals = [f32x4::ZERO; TILE / 4];
                        // The sums of one block of inputs share its 16 outputs' scales.
                        let parts =
                            split.high.chunks_exact(QUANT_BLOCK).zip(split.low.chunks_exact(QUANT_BLOCK));
                        let tile_blocks =
                            tile.chunks_exact(QUANT_BLOCK * TILE).zip(scales.chunks_exact(TILE));
                        for ((values, scales), (high, low)) in tile_blocks.zip(parts) {
                            let [high, low] = simd.tile_sums(values, high, low);
                            for (k, total) in totals.iter_mut().enumerate() {
                                let scale =
                                    f32x4::from(<[f32; 4]>::try_from(&scales[4 * k..4 * k + 4]).expect("4"));
                                *total = join(high[k], low[k]).mul_add(scale, *total);
                            }
                        }
                        let y = &mut y[t * TILE..((t + 1) * TILE).min(outputs)];
                        let totals = totals.map(|t| (t * f32x4::splat(scale)).to_array());
                        y.copy_from_slice(&totals.as_flattened()[..y.len()]);
                    }
                }
            }
        }
        if let Some(bias) = &self.bias {
            for y in y.chunks_exact_mut(outputs) {
                add_scaled(y, 1.0, bias);
            }
        }
    }
}

/// The most inputs an 8-bit product sums in i32: |q| ≤ 127 times a [`Split`] part's
/// magnitude ≤ 8,192, over 2,048 inputs, stays below 2³¹. Wider layers stay float.
const MAX_INT8_INPUTS: usize = 2048;

/// A [`Split`] high part's largest magnitude is below `2^HIGH_BITS`.
const HIGH_BITS: i32 = 13;

/// The low part's steps per unit of the high part.
const LOW_STEPS: f32 = 16384.0;

/// Adding and then subtracting 1.5 · 2²³ rounds an f32 below 2²² to the nearest integer (ties to
/// even): exact, vectorizable, and no libm call in wasm or on x86-64 without SSE4.1.
const ROUNDING: f32 = 12_582_912.0;

/// Activations as two 16-bit integer parts, which 8-bit weights multiply exactly in i32:
/// `x[i] = scale · (high[i] + low[i] / LOW_STEPS)` to within `scale / (2 · LOW_STEPS)`, that is
/// 2⁻²⁷ of the largest `|x|`: finer than f32 keeps it. `scale` is a power of two, so dividing by
/// it and taking the high part off are exact. Buffers kept between products.
#[derive(Default)]
pub struct Split {
    /// The floats to split (set by the caller).
    scaled: Vec<f32>,
    high: Vec<i16>,
    low: Vec<i16>,
}

impl Split {
    /// Splits `x`, times `factors` where given, padded with zeros to a multiple of 8; the
    /// scale, or `None` when a value is not finite (the product's outputs are then NaN, as in
    /// float).
    fn set(&mut self, x: &[f32], factors: Option<&[f32]>) -> Option<f32> {
        self.fill(x, factors);
        let (mut largest, mut infinite) = (f32x4::ZERO, f32x4::ZERO);
        for v in self.scaled.as_chunks::<4>().0 {
            let v = f32x4::from(*v);
            largest = largest.fast_max(v.abs());
            // v · 0 is 0, or NaN for an infinite or NaN v.
            infinite += v * f32x4::ZERO;
        }
        if infinite.reduce_add() != 0.0 {
            return None;
        }
        let (scale, inverse) = Self::scales(max(&largest.to_array()));
        let (inverse, rounding, steps) =
            (f32x4::splat(inverse), f32x4::splat(ROUNDING), f32x4::splat(LOW_STEPS));
        let parts = self.high.as_chunks_mut::<8>().0.iter_mut().zip(self.low.as_chunks_mut::<8>().0);
        for (x, (high, low)) in self.scaled.as_chunks::<8>().0.iter().zip(parts) {
            let (a, b) = halves(x);
            let [(high_a, low_a), (high_b, low_b)] = [a, b].map(|v| {
                let v = v * inverse;
                let high = (v + rounding) - rounding;
                let low = ((v - high) * steps + rounding) - rounding;
                (high.fast_trunc_int(), low.fast_trunc_int())
            });
            *high = i16x8::from_i32x8_saturate(bytemuck::cast([high_a, high_b])).to_array();
            *low = i16x8::from_i32x8_saturate(bytemuck::cast([low_a, low_b])).to_array();
        }
        Some(scale)
    }

    /// [`Split::set`] with AVX2's 8-lane vectors: the same operations on each value, so the
    /// same parts to the bit.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn set_avx2(&mut self, simd: pulp::x86::V3, x: &[f32], factors: Option<&[f32]>) -> Option<f32> {
        use std::arch::x86_64::{__m128i, __m256};
        let (avx, avx2) = (simd.avx, simd.avx2);
        self.fill(x, factors);
        let magnitude = avx._mm256_castsi256_ps(avx._mm256_set1_epi32(i32::MAX));
        let (mut largest, mut infinite) = (avx._mm256_setzero_ps(), avx._mm256_setzero_ps());
        for v in self.scaled.as_chunks::<8>().0 {
            let v: __m256 = bytemuck::cast(*v);
            largest = avx._mm256_max_ps(largest, avx._mm256_and_ps(v, magnitude));
            infinite = avx._mm256_add_ps(infinite, avx._mm256_mul_ps(v, avx._mm256_setzero_ps()));
        }
        if bytemuck::cast::<_, [f32; 8]>(infinite).iter().sum::<f32>() != 0.0 {
            return None;
        }
        let (scale, inverse) = Self::scales(max(&bytemuck::cast::<_, [f32; 8]>(largest)));
        let [inverse, rounding, steps] = [inverse, ROUNDING, LOW_STEPS].map(|v| avx._mm256_set1_ps(v));
        let round = |v| avx._mm256_sub_ps(avx._mm256_add_ps(v, rounding), rounding);
        // Truncated to i32, then to i16 with saturation, in order.
        let narrow = |v| {
            let v = avx._mm256_cvttps_epi32(v);
            let v = simd
                .sse2
                ._mm_packs_epi32(avx._mm256_castsi256_si128(v), avx2._mm256_extracti128_si256::<1>(v));
            bytemuck::cast::<__m128i, [i16; 8]>(v)
        };
        let parts = self.high.as_chunks_mut::<8>().0.iter_mut().zip(self.low.as_chunks_mut::<8>().0);
        for (x, (high, low)) in self.scaled.as_chunks::<8>().0.iter().zip(parts) {
            let v = avx._mm256_mul_ps(bytemuck::cast(*x), inverse);
            let rounded = round(v);
            *high = narrow(rounded);
            *low = narrow(round(avx._mm256_mul_ps(avx._mm256_sub_ps(v, rounded), steps)));
        }
        Some(scale)
    }

    /// `x` (times `factors` where given) into `scaled`, padded with zeros to a multiple of 8, and
    /// the parts sized to match.
    #[inline(always)]
    fn fill(&mut self, x: &[f32], factors: Option<&[f32]>) {
        let len = x.len().next_multiple_of(8);
        self.scaled.clear();
        match factors {
            Some(factors) => self.scaled.extend(x.iter().zip(factors).map(|(x, f)| x * f)),
            None => self.scaled.extend_from_slice(x),
        }
        self.scaled.resize(len, 0.0);
        self.high.resize(len, 0);
        self.low.resize(len, 0);
    }

    /// The split's scale, 2^(e + 1 − HIGH_BITS) for the exponent e of the largest magnitude,
    /// and its inverse.
    #[inline(always)]
    fn scales(largest: f32) -> (f32, f32) {
        // largest < 2^(e + 1) for its exponent e, so |x| / 2^(e + 1 − HIGH_BITS) < 2^HIGH_BITS.
        // e is taken as at least −100 (a zero row, subnormals): the scale and its inverse stay
        // normal floats.
        let exponent = ((largest.to_bits() >> 23) as i32 - 127).max(-100);
        let power_of_two = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
        (power_of_two(exponent + 1 - HIGH_BITS), power_of_two(HIGH_BITS - 1 - exponent))
    }
}

#[inline(always)]
fn load_i16x8(x: &[i16]) -> i16x8 {
    i16x8::new(x[..8].try_into().expect("8 values"))
}

/// Sixteen i8 as two `i16x8` (sign-extended: one instruction each in wasm simd128).
#[inline(always)]
fn widen(q: &[i8]) -> [i16x8; 2] {
    let q: [i16; 16] = [
        q[0].into(),
        q[1].into(),
        q[2].into(),
        q[3].into(),
        q[4].into(),
        q[5].into(),
        q[6].into(),
        q[7].into(),
        q[8].into(),
        q[9].into(),
        q[10].into(),
        q[11].into(),
        q[12].into(),
        q[13].into(),
        q[14].into(),
        q[15].into(),
    ];
    let (low, high) = q.split_at(8);
    [load_i16x8(low), load_i16x8(high)]
}

/// An i32 dot product's high and low parts as floats: `high + low / LOW_STEPS`.
#[inline(always)]
fn join(high: i32x4, low: i32x4) -> f32x4 {
    low.round_float().mul_add(f32x4::splat(1.0 / LOW_STEPS), high.round_float())
}

/// A tile's 16 outputs summed over the input pairs of `values` (`[pairs, 16, 2]`), for `x`
/// split into `high` and `low` (`[2 · pairs]` or more): the i32 sums of each part, four outputs
/// a vector. Eight accumulators, four weight vectors and two activation pairs fit the sixteen
/// vector registers of x86-64 and of V8's wasm.
#[inline(always)]
fn tile_sums(values: &[i8], high: &[i16], low: &[i16]) -> [[i32x4; TILE / 4]; 2] {
    // The same two inputs in every i32 lane (one splat): `dot` multiplies them with an
    // output's pair.
    let pair = |x: &[i16]| -> i16x8 {
        let bits = u32::from(x[0] as u16) | (u32::from(x[1] as u16) << 16);
        bytemuck::cast(i32x4::splat(bits as i32))
    };
    let mut sums = [[i32x4::ZERO; TILE / 4]; 2];
    let pairs = values.chunks_exact(2 * TILE).zip(high.chunks_exact(2).zip(low.chunks_exact(2)));
    for (q, (high, low)) in pairs {
        let [w0, w1] = widen(&q[..16]);
        let [w2, w3] = widen(&q[16..]);
        for (sums, x) in sums.iter_mut().zip([pair(high), pair(low)]) {
            for (sum, w) in sums.iter_mut().zip([w0, w1, w2, w3]) {
                *sum += w.dot(x);
            }
        }
    }
    sums
}

/// The loops of the 8-bit products for one instruction set: [`Split::set`] and [`tile_sums`].
trait Int8Loops: Copy {
    fn split(self, split: &mut Split, x: &[f32], factors: Option<&[f32]>) -> Option<f32>;
    fn tile_sums(self, values: &[i8], high: &[i16], low: &[i16]) -> [[i32x4; TILE / 4]; 2];
}

/// `wide`'s 128-bit vectors: wasm simd128, SSE2, plain arrays.
#[derive(Clone, Copy)]
struct Portable;

impl Int8Loops for Portable {
    #[inline(always)]
    fn split(self, split: &mut Split, x: &[f32], factors: Option<&[f32]>) -> Option<f32> {
        split.set(x, factors)
    }

    #[inline(always)]
    fn tile_sums(self, values: &[i8], high: &[i16], low: &[i16]) -> [[i32x4; TILE / 4]; 2] {
        tile_sums(values, high, low)
    }
}

/// Only inside [`Dense::forward_avx2`], where its AVX2 instructions are inlined.
#[cfg(target_arch = "x86_64")]
impl Int8Loops for pulp::x86::V3 {
    #[inline(always)]
    fn split(self, split: &mut Split, x: &[f32], factors: Option<&[f32]>) -> Option<f32> {
        split.set_avx2(self, x, factors)
    }

    #[inline(always)]
    fn tile_sums(self, values: &[i8], high: &[i16], low: &[i16]) -> [[i32x4; TILE / 4]; 2] {
        tile_sums_avx2(self, values, high, low)
    }
}

/// [`tile_sums`] with x86-64's 256-bit AVX2 vectors: eight outputs' input pairs sign-extended
/// from 16 bytes in one instruction (`vpmovsxbw`) and multiplied by the two inputs in one more
/// (`vpmaddwd`), half the instructions of the 128-bit loop. The same sums, in the same lanes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tile_sums_avx2(simd: pulp::x86::V3, values: &[i8], high: &[i16], low: &[i16]) -> [[i32x4; TILE / 4]; 2] {
    use std::arch::x86_64::__m128i;
    let pair = |x: &[i16]| simd.avx._mm256_set1_epi32(bytemuck::cast([x[0], x[1]]));
    let widen = |q: &[i8]| {
        let q: [i8; 16] = q.try_into().expect("16 values");
        simd.avx2._mm256_cvtepi8_epi16(bytemuck::cast::<_, __m128i>(q))
    };
    let mut sums = [[simd.avx._mm256_setzero_si256(); 2]; 2];
    let pairs = values.chunks_exact(2 * TILE).zip(high.chunks_exact(2).zip(low.chunks_exact(2)));
    for (q, (high, low)) in pairs {
        let w = [widen(&q[..16]), widen(&q[16..])];
        for (sums, x) in sums.iter_mut().zip([pair(high), pair(low)]) {
            for (sum, w) in sums.iter_mut().zip(w) {
                *sum = simd.avx2._mm256_add_epi32(*sum, simd.avx2._mm256_madd_epi16(w, x));
            }
        }
    }
    bytemuck::cast(sums)
}

/// Layer normalization over the last dimension, as Burn's `LayerNorm` computes it (biased
/// variance, ε inside the square root).
#[derive(Clone)]
pub struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub epsilon: f32,
}

impl Norm {
    /// Normalizes each row of `x` (`[rows, width]`) into `y`.
    pub fn forward(&self, x: &[f32], y: &mut Vec<f32>) {
        let width = self.gamma.len();
        y.resize(x.len(), 0.0);
        for (x, y) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
            let mean = x.iter().sum::<f32>() / width as f32;
            let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
            let scale = 1.0 / (variance + self.epsilon).sqrt();
            for (((y, x), g), b) in y.iter_mut().zip(x).zip(&self.gamma).zip(&self.beta) {
                *y = (x - mean) * scale * g + b;
            }
        }
    }
}

/// `x[i] ← exp(x[i] − shift)` (−∞ gives 0), four at a time with `wide`'s polynomial `exp`;
/// returns their sum. In wasm `f32::exp` is a scalar libm call: a step's log-softmax over 8,000
/// code tokens spent most of its time there.
pub fn exp_shifted(x: &mut [f32], shift: f32) -> f32 {
    let (blocks, rest) = x.as_chunks_mut::<4>();
    let shift4 = f32x4::splat(shift);
    let mut sum = f32x4::ZERO;
    for block in blocks {
        let e = (f32x4::from(*block) - shift4).exp();
        sum += e;
        *block = e.to_array();
    }
    let mut rest_sum = 0.0;
    for v in rest {
        *v = (*v - shift).exp();
        rest_sum += *v;
    }
    sum.reduce_add() + rest_sum
}

/// The largest value (−∞ for none; NaN is passed over, as `f32::max` does). By comparison, not
/// `f32::max`: wasm's own `f32.max` treats NaN otherwise, so there `f32::max` is a call to libm's
/// `fmaxf` for each value (3 % of the page's generation time in a Node profile, over the
/// log-softmax's 8,000 logits and the attention's scores).
pub fn max(x: &[f32]) -> f32 {
    x.iter().copied().fold(f32::NEG_INFINITY, |m, v| if v > m { v } else { m })
}

/// `x[i] ← max(x[i], 0)` (NaN gives 0, as `f32::max` does), without `f32::max`'s libm call in
/// wasm ([`max`]).
pub fn relu(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { 0.0 });
}

/// `softmax` of `x` in place.
pub fn softmax(x: &mut [f32]) {
    let sum = exp_shifted(x, max(x));
    x.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths around the lane count: a whole number of blocks, a remainder, a remainder only.
    #[test]
    fn dot_sums_every_product() {
        for n in [0, 1, 15, 16, 17, 40, 256] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32).collect();
            let expected: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - expected).abs() <= 1e-3 * expected.abs().max(1.0), "n={n}");
        }
    }

    /// Five outputs: one group of four and one left over; lengths with and without a remainder.
    #[test]
    fn dense_matches_plain_sums() {
        for inputs in [3, 8, 19] {
            let weight: Vec<f32> = (0..5 * inputs).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let dense = Dense::from_rows(weight.clone(), inputs, 5, Storage::KeepInt8);
            let x: Vec<f32> = (0..2 * inputs).map(|i| i as f32 * 0.25).collect();
            let mut y = Vec::new();
            dense.forward(&x, &mut y, &mut Split::default());
            for r in 0..2 {
                for o in 0..5 {
                    let w = &weight[o * inputs..(o + 1) * inputs];
                    let expected: f32 = w.iter().zip(&x[r * inputs..]).map(|(w, x)| w * x).sum();
                    assert!((y[r * 5 + o] - expected).abs() < 1e-3, "inputs {inputs}, row {r}, output {o}");
                }
            }
        }
    }

    #[test]
    fn dense_multiplies_every_row() {
        // y = x · Wᵀ + b with W = [[1, 2, 3], [0, -1, 1]], b = [0.5, -2].
        // Burn's layout: [inputs, outputs].
        let dense = Dense::from_linear(
            vec![1.0, 0.0, 2.0, -1.0, 3.0, 1.0],
            Some(vec![0.5, -2.0]),
            3,
            2,
            Storage::Float,
        );
        let mut y = Vec::new();
        dense.forward(&[1.0, 1.0, 1.0, 2.0, 0.0, -1.0], &mut y, &mut Split::default());
        assert_eq!(y, [6.5, -2.0, -0.5, -3.0]);
    }

    /// `len` weights that are exactly 8-bit blocks: q · s with q in [-127, 127] (−127 at `at` in
    /// each block, so that s is its block's largest magnitude / 127), s a power of two per
    /// block; `step` varies the q.
    fn int8_weights(len: usize, step: usize, at: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let q = if i % QUANT_BLOCK == at { -127 } else { (i * step % 255) as i32 - 127 };
                q as f32 * 2f32.powi(-((i / QUANT_BLOCK % 5) as i32) - 6)
            })
            .collect()
    }

    /// Weights that are exactly 8-bit blocks stay 8-bit, along the axis each layout blocks,
    /// and give the float layer's outputs; anything else stays float.
    #[test]
    fn int8_blocks_are_kept_and_multiply_as_floats() {
        let (inputs, outputs) = (64, 96);
        let weight = int8_weights(inputs * outputs, 37, 5);
        let bias: Vec<f32> = (0..outputs).map(|o| o as f32 * 0.01).collect();
        let x: Vec<f32> = (0..3 * inputs).map(|i| ((i * 13) % 17) as f32 * 0.1 - 0.8).collect();
        let output = |dense: &Dense| {
            let mut y = Vec::new();
            dense.forward(&x, &mut y, &mut Split::default());
            y
        };
        // Plain sums over Burn's layout, [inputs, outputs].
        let expected: Vec<f32> = (0..3 * outputs)
            .map(|ro| {
                let (r, o) = (ro / outputs, ro % outputs);
                bias[o] + (0..inputs).map(|i| x[r * inputs + i] * weight[i * outputs + o]).sum::<f32>()
            })
            .collect();
        let close = |y: &[f32], expected: &[f32]| y.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-4);
        // One value that no block holds exactly makes a layer float.
        let mut nudged = weight.clone();
        nudged[1] += 1e-3;
        let keep = Storage::KeepInt8;
        let linear = Dense::from_linear(weight.clone(), Some(bias.clone()), inputs, outputs, keep);
        assert!(
            linear.is_int8() && !Dense::from_linear(nudged.clone(), None, inputs, outputs, keep).is_int8()
        );
        assert!(!Dense::from_linear(weight.clone(), None, inputs, outputs, Storage::Float).is_int8());
        assert!(close(&output(&linear), &expected), "linear: int8 differs from the float sums");
        // Read as rows ([outputs, inputs] = [96, 64]), the blocks lie along the inputs.
        let rows = Dense::from_rows(weight.clone(), inputs, outputs, keep);
        assert!(rows.is_int8() && !Dense::from_rows(nudged, inputs, outputs, keep).is_int8());
        let expected: Vec<f32> = (0..3 * outputs)
            .map(|ro| {
                let (r, o) = (ro / outputs, ro % outputs);
                (0..inputs).map(|i| x[r * inputs + i] * weight[o * inputs + i]).sum::<f32>()
            })
            .collect();
        assert!(close(&output(&rows), &expected), "rows: int8 differs from the float sums");
        let mut row = Vec::new();
        rows.row(3, &mut row);
        assert_eq!(row, weight[3 * inputs..4 * inputs]);
    }

    /// An odd number of inputs (the last pair half empty) gives the float sums; a non-finite
    /// input makes its row's outputs NaN, as in float, and leaves the other rows alone.
    #[test]
    fn int8_products_take_odd_inputs_and_pass_nan_on() {
        let (inputs, outputs) = (33, 64);
        let weight = int8_weights(inputs * outputs, 53, 9);
        let dense = Dense::from_linear(weight.clone(), None, inputs, outputs, Storage::KeepInt8);
        assert!(dense.is_int8());
        let mut x: Vec<f32> = (0..2 * inputs).map(|i| ((i * 29) % 23) as f32 * 0.3 - 3.1).collect();
        let expected: Vec<f32> = (0..2 * outputs)
            .map(|ro| {
                let (r, o) = (ro / outputs, ro % outputs);
                (0..inputs).map(|i| x[r * inputs + i] * weight[i * outputs + o]).sum::<f32>()
            })
            .collect();
        let (mut y, mut split) = (Vec::new(), Split::default());
        dense.forward(&x, &mut y, &mut split);
        assert!(y.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-4), "{y:?}\n{expected:?}");
        for bad in [f32::NAN, f32::INFINITY] {
            x[5] = bad;
            dense.forward(&x, &mut y, &mut split);
            assert!(y[..outputs].iter().all(|v| v.is_nan()), "{bad} in row 0");
            assert!(y[outputs..].iter().zip(&expected[outputs..]).all(|(a, b)| (a - b).abs() < 1e-4));
        }
    }

    /// Rows of 8-bit blocks whose count fills no whole tile (40 of 16 a tile): every output and
    /// every embedding lookup as in float.
    #[test]
    fn int8_rows_that_fill_no_whole_tile() {
        let (inputs, outputs) = (64, 40);
        let weight = int8_weights(outputs * inputs, 61, 0);
        let dense = Dense::from_rows(weight.clone(), inputs, outputs, Storage::KeepInt8);
        assert!(dense.is_int8());
        let x: Vec<f32> = (0..inputs).map(|i| ((i * 17) % 13) as f32 * 0.2 - 1.1).collect();
        let mut y = Vec::new();
        dense.forward(&x, &mut y, &mut Split::default());
        assert_eq!(y.len(), outputs);
        let mut row = Vec::new();
        for o in 0..outputs {
            let w = &weight[o * inputs..(o + 1) * inputs];
            let expected: f32 = w.iter().zip(&x).map(|(w, x)| w * x).sum();
            assert!((y[o] - expected).abs() < 1e-4, "output {o}: {} against {expected}", y[o]);
            dense.row(o, &mut row);
            assert_eq!(row, w, "row {o}");
        }
    }

    /// The AVX2 products are the portable loop's to the bit: the same i32 sums in the same lanes,
    /// for both layouts, a tile left part-empty and an odd input. A processor without AVX2
    /// fails the test unless `NL2PY_AVX2_UNCHECKED` says it has none (`scripts/test.sh` then
    /// reports the AVX2 products as not checked).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_products_equal_the_portable_ones() {
        let Some(simd) = pulp::x86::V3::try_new() else {
            assert!(
                std::env::var_os("NL2PY_AVX2_UNCHECKED").is_some(),
                "this processor has no AVX2, so its products cannot be checked here: set \
                 NL2PY_AVX2_UNCHECKED=1 on a machine without it"
            );
            eprintln!("not checked (NL2PY_AVX2_UNCHECKED is set): this processor has no AVX2");
            return;
        };
        let linear = |inputs, outputs| {
            let weight = int8_weights(inputs * outputs, 41, 3);
            Dense::from_linear(weight, None, inputs, outputs, Storage::KeepInt8)
        };
        let rows = |inputs, outputs| {
            Dense::from_rows(int8_weights(inputs * outputs, 43, 7), inputs, outputs, Storage::KeepInt8)
        };
        for dense in [linear(64, 96), linear(33, 64), rows(64, 96), rows(256, 40)] {
            let (inputs, outputs) = (dense.inputs, dense.outputs);
            let x: Vec<f32> = (0..3 * inputs).map(|i| ((i * 31) % 19) as f32 * 0.17 - 1.4).collect();
            assert!(dense.is_int8());
            let (mut portable, mut avx2, mut split) = (Vec::new(), Vec::new(), Split::default());
            dense.forward_with(&x, &mut portable, &mut split, Portable);
            // SAFETY: `simd` exists, so the processor has AVX2.
            unsafe { dense.forward_avx2(&x, &mut avx2, &mut split, simd) };
            let bits = |y: &[f32]| y.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&avx2), bits(&portable), "{inputs} inputs, {outputs} outputs");
        }
        // The split alone, over magnitudes from zero and subnormal rows to 1e30, and a row that
        // is not finite.
        let (mut portable, mut avx2) = (Split::default(), Split::default());
        for magnitude in [0.0, 1e-40, 1e-3, 1.0, 37.5, 1e30, f32::INFINITY] {
            let x: Vec<f32> = (0..21).map(|i| ((i * 7919 % 1009) as f32 - 504.5) * magnitude).collect();
            let factors: Vec<f32> = (0..21).map(|i| 0.5 + i as f32 * 0.25).collect();
            for factors in [None, Some(&factors[..])] {
                let scale = Portable.split(&mut portable, &x, factors);
                assert_eq!(simd.split(&mut avx2, &x, factors), scale, "{magnitude}");
                if scale.is_some() {
                    assert_eq!((&avx2.high, &avx2.low), (&portable.high, &portable.low), "{magnitude}");
                }
            }
        }
    }

    /// `scale · (high + low / LOW_STEPS)` gives each value back to within 2⁻²⁷ of the largest
    /// (of 2⁻¹⁰⁰ for smaller rows); the parts stay within the bound the products' i32 sums rely on.
    #[test]
    fn a_split_gives_its_values_back() {
        let mut split = Split::default();
        for magnitude in [0.0, 1e-35, 1e-3, 1.0, 37.5, 1e30] {
            let x: Vec<f32> =
                (0..21).map(|i| (((i * 7919) % 1009) as f32 - 504.5) / 504.5 * magnitude).collect();
            let scale = split.set(&x, None).expect("finite");
            let largest = x.iter().fold(2f32.powi(-100), |m, v| m.max(v.abs()));
            for (i, &v) in x.iter().enumerate() {
                let (high, low) = (split.high[i], split.low[i]);
                assert!(high.abs() <= 8192 && low.abs() <= 8192, "{magnitude}: {high} {low}");
                let back = f64::from(scale) * (f64::from(high) + f64::from(low) / f64::from(LOW_STEPS));
                assert!(
                    (back - f64::from(v)).abs() <= f64::from(largest) * 2f64.powi(-27),
                    "{magnitude}, {i}"
                );
            }
        }
        assert!(split.set(&[1.0, f32::NEG_INFINITY], None).is_none());
        assert!(split.set(&[f32::NAN, 1.0], None).is_none());
    }

    #[test]
    fn norm_centres_and_scales_each_row() {
        let norm = Norm { gamma: vec![1.0, 2.0], beta: vec![0.0, 1.0], epsilon: 0.0 };
        let mut y = Vec::new();
        norm.forward(&[1.0, 3.0, 5.0, 5.0 + 1e-3], &mut y);
        assert!((y[0] + 1.0).abs() < 1e-5 && (y[1] - 3.0).abs() < 1e-5, "{y:?}");
        assert!((y[2] + 1.0).abs() < 1e-2 && (y[3] - 3.0).abs() < 1e-2, "{y:?}");
    }

    /// Against `f32::exp` one by one: lengths with and without a remainder, −∞ entries, values
    /// far below the shift (which underflow to 0).
    #[test]
    fn exp_shifted_matches_scalar_exp() {
        for n in [0, 3, 8, 13, 8000] {
            let x: Vec<f32> = (0..n)
                .map(|i| match i % 11 {
                    0 => f32::NEG_INFINITY,
                    1 => -150.0,
                    k => (k as f32 - 6.0) * 1.7 + (i % 97) as f32 * 0.01,
                })
                .collect();
            let mut y = x.clone();
            let sum = exp_shifted(&mut y, 2.5);
            let expected: Vec<f32> = x.iter().map(|v| (v - 2.5).exp()).collect();
            for (i, (a, b)) in y.iter().zip(&expected).enumerate() {
                assert!((a - b).abs() <= 1e-6 * b.abs() + 1e-30, "n={n} i={i}: {a} vs {b}");
            }
            let total: f32 = expected.iter().sum();
            assert!((sum - total).abs() <= 1e-5 * total.max(1e-30), "n={n}: {sum} vs {total}");
        }
    }

    /// NaN is passed over by `max` and zeroed by `relu`, as `f32::max` does.
    #[test]
    fn max_and_relu_treat_nan_as_f32_max_does() {
        for x in [vec![], vec![f32::NAN], vec![1.0, f32::NAN, 3.0, -2.0], vec![f32::NEG_INFINITY, -5.0]] {
            let expected = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&x).to_bits(), expected.to_bits(), "{x:?}");
            let mut y = x.clone();
            relu(&mut y);
            let expected: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
            assert_eq!(y, expected, "{x:?}");
        }
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut x = [1.0, 3.0, -1.0e4, 2.0];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[3] && x[3] > x[0] && x[2] == 0.0);
    }
}
