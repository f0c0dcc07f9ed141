//! Reading each publisher's tensors into [`Unpacked`], from the layouts
//! they document:
//!
//! - **AWQ (GEMM)**: `qweight` `[in, out/8]` int32; the eight 4-bit values
//!   of a word are output features `8j + [0, 2, 4, 6, 1, 3, 5, 7]` at bits
//!   `0, 4, …, 28`; `qzeros` `[in/group, out/8]` packed the same way;
//!   `scales` `[in/group, out]`; a weight is `(q − z) · s`.
//! - **GPTQ**: `qweight` `[in/p, out]` int32 with `p = 32/bits` input
//!   features per word (feature `p·i + j` at bits `bits·j`); `qzeros`
//!   `[groups, out/p]` packed along the output; `scales` `[groups, out]`;
//!   `g_idx` `[in]`, each input feature's group. AutoGPTQ's format stores
//!   zero points minus one.
//! - **FP8**: `weight` `[out, in]` e4m3, `weight_scale_inv` `[⌈out/b₀⌉,
//!   ⌈in/b₁⌉]`; a weight is `e4m3 · s`.
//! - **compressed-tensors**: `weight_packed` `[out, in/p]` int32, feature
//!   `p·i + j` at bits `bits·j`, values stored plus `2^(bits−1)`;
//!   `weight_scale` `[out, in/group]`; float-quantized: `weight` e4m3 and
//!   `weight_scale` per tensor, row or block.

use super::packed::{BLOCK, Codes, Unpacked};
use super::scheme::Scheme;
use crate::EngineError;
use candle_core::safetensors::MmapedSafetensors;
use rayon::prelude::*;
use safetensors::Dtype;

/// Output rows one transposing task takes (AWQ and GPTQ store matrices
/// input-major).
const TILE: usize = 64;

/// AWQ's nibble position of output feature `i` within its word.
const AWQ_POSITION: [u32; 8] = [0, 4, 1, 5, 2, 6, 3, 7];

struct Raw<'a> {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
}

fn raw<'a>(st: &'a MmapedSafetensors, name: &str) -> Result<Option<Raw<'a>>, EngineError> {
    match st.get(name) {
        Ok(view) => Ok(Some(Raw {
            name: name.to_owned(),
            dtype: view.dtype(),
            shape: view.shape().to_vec(),
            data: view.data(),
        })),
        Err(_) => Ok(None),
    }
}

fn need<'a>(st: &'a MmapedSafetensors, name: &str) -> Result<Raw<'a>, EngineError> {
    raw(st, name)?.ok_or_else(|| EngineError::MissingTensor(name.to_owned()))
}

impl Raw<'_> {
    fn shape_is(&self, want: &[usize]) -> Result<(), EngineError> {
        if self.shape != want {
            return Err(EngineError::Shape {
                name: self.name.clone(),
                got: self.shape.clone(),
                want: want.to_vec(),
            });
        }
        Ok(())
    }

    fn wrong_dtype(&self, want: &str) -> EngineError {
        EngineError::Config {
            field: self.name.clone(),
            message: format!("stored as {:?}, expected {want}", self.dtype),
        }
    }

    fn words(&self) -> Result<Vec<u32>, EngineError> {
        if !matches!(self.dtype, Dtype::I32 | Dtype::U32) {
            return Err(self.wrong_dtype("int32"));
        }
        Ok(self
            .data
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn ints(&self) -> Result<Vec<i64>, EngineError> {
        match self.dtype {
            Dtype::I32 => Ok(self
                .data
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect()),
            Dtype::I64 => Ok(self
                .data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .collect()),
            _ => Err(self.wrong_dtype("int32 or int64")),
        }
    }

    fn floats(&self) -> Result<Vec<f32>, EngineError> {
        let two = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]);
        Ok(match self.dtype {
            Dtype::F32 => self
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => self
                .data
                .chunks_exact(2)
                .map(|b| super::packed::f16_to_f32(two(b)))
                .collect(),
            Dtype::BF16 => self
                .data
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(two(b)) << 16))
                .collect(),
            _ => return Err(self.wrong_dtype("float32, float16 or bfloat16")),
        })
    }

    fn e4m3(&self) -> Result<&[u8], EngineError> {
        if self.dtype != Dtype::F8_E4M3 {
            return Err(self.wrong_dtype("F8_E4M3"));
        }
        Ok(self.data)
    }
}

/// The largest group of whole [`BLOCK`]s that divides both `cols` and
/// `block` (a scale block's width), so per-block scales become per-group
/// ones without splitting a block. `None` when there is none.
fn fp8_group(cols: usize, block: usize) -> Option<usize> {
    (1..=block / BLOCK)
        .rev()
        .map(|n| n * BLOCK)
        .find(|g| block.is_multiple_of(*g) && cols.is_multiple_of(*g))
}

/// Reads the quantised projection `prefix` (its name without `.weight`)
/// of shape `[rows, cols]`. `Ok(None)` when the checkpoint holds it in
/// floating point (the scheme's tensors are absent).
///
/// # Errors
/// When the scheme's tensors are present but misshapen or of the wrong
/// type, or the group size does not divide the input features.
pub fn read(
    st: &MmapedSafetensors,
    prefix: &str,
    scheme: &Scheme,
    rows: usize,
    cols: usize,
) -> Result<Option<Unpacked>, EngineError> {
    let name = |suffix: &str| format!("{prefix}.{suffix}");
    match scheme {
        Scheme::Awq { group } => {
            let Some(qweight) = raw(st, &name("qweight"))? else {
                return Ok(None);
            };
            let group = check_group(&qweight.name, *group, cols)?;
            awq(
                &qweight,
                &need(st, &name("qzeros"))?,
                &need(st, &name("scales"))?,
                rows,
                cols,
                group,
            )
            .map(Some)
        }
        Scheme::Gptq {
            bits,
            group,
            zeros_minus_one,
        } => {
            let Some(qweight) = raw(st, &name("qweight"))? else {
                return Ok(None);
            };
            let group = check_group(&qweight.name, group.unwrap_or(cols), cols)?;
            gptq(
                GptqTensors {
                    qweight: &qweight,
                    qzeros: &need(st, &name("qzeros"))?,
                    scales: &need(st, &name("scales"))?,
                    g_idx: raw(st, &name("g_idx"))?.as_ref(),
                },
                *bits,
                *zeros_minus_one,
                rows,
                cols,
                group,
            )
            .map(Some)
        }
        Scheme::Fp8Block { block } => {
            let Some(scale) = raw(st, &name("weight_scale_inv"))? else {
                return Ok(None);
            };
            fp8(
                &need(st, &name("weight"))?,
                &scale,
                rows,
                cols,
                Some(*block),
            )
            .map(Some)
        }
        Scheme::Fp8Scaled { block } => {
            let Some(scale) = raw(st, &name("weight_scale"))? else {
                return Ok(None);
            };
            fp8(&need(st, &name("weight"))?, &scale, rows, cols, *block).map(Some)
        }
        Scheme::PackedInt { bits, group } => {
            let Some(packed) = raw(st, &name("weight_packed"))? else {
                return Ok(None);
            };
            let group = check_group(&packed.name, group.unwrap_or(cols), cols)?;
            packed_int(
                &packed,
                &need(st, &name("weight_scale"))?,
                raw(st, &name("weight_g_idx"))?.as_ref(),
                *bits,
                [rows, cols, group],
            )
            .map(Some)
        }
    }
}

/// The tensor whose presence marks a module as quantised in `scheme`.
pub fn first_tensor(scheme: &Scheme) -> &'static str {
    match scheme {
        Scheme::Awq { .. } | Scheme::Gptq { .. } => "qweight",
        Scheme::Fp8Block { .. } => "weight_scale_inv",
        Scheme::Fp8Scaled { .. } => "weight_scale",
        Scheme::PackedInt { .. } => "weight_packed",
    }
}

/// `[rows, groups]` from a per-group, per-row value: AWQ and GPTQ store
/// scales and zero points group-major, the engine's layout row-major.
fn per_row(rows: usize, groups: usize, value: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    (0..rows)
        .flat_map(|r| (0..groups).map(move |g| (g, r)))
        .map(|(g, r)| value(g, r))
        .collect()
}

fn check_group(name: &str, group: usize, cols: usize) -> Result<usize, EngineError> {
    if group == 0 || !cols.is_multiple_of(group) {
        return Err(EngineError::Config {
            field: name.to_owned(),
            message: format!("the group size {group} does not divide the {cols} input features"),
        });
    }
    Ok(group)
}

fn awq(
    qweight: &Raw<'_>,
    qzeros: &Raw<'_>,
    scales: &Raw<'_>,
    rows: usize,
    cols: usize,
    group: usize,
) -> Result<Unpacked, EngineError> {
    let groups = cols / group;
    if !rows.is_multiple_of(8) {
        return Err(EngineError::Config {
            field: qweight.name.clone(),
            message: format!("{rows} output features do not fill whole AWQ words of 8"),
        });
    }
    qweight.shape_is(&[cols, rows / 8])?;
    qzeros.shape_is(&[groups, rows / 8])?;
    scales.shape_is(&[groups, rows])?;
    let (w, z, s) = (qweight.words()?, qzeros.words()?, scales.floats()?);
    let nibble = |word: u32, r: usize| ((word >> (4 * AWQ_POSITION[r % 8])) & 0xf) as u8;
    // Transposed in tiles of 64 output rows (their 64 destination lines
    // stay in cache while the columns pass), tiles over the threads.
    let mut values = vec![0u8; rows * cols];
    values
        .par_chunks_mut(TILE * cols)
        .enumerate()
        .for_each(|(t, tile)| {
            let r0 = t * TILE;
            for c in 0..cols {
                for (i, row) in tile.chunks_exact_mut(cols).enumerate() {
                    let r = r0 + i;
                    row[c] = nibble(w[c * (rows / 8) + r / 8], r);
                }
            }
        });
    let out_scales = per_row(rows, groups, |g, r| s[g * rows + r]);
    let zeros = per_row(rows, groups, |g, r| {
        f32::from(nibble(z[g * (rows / 8) + r / 8], r))
    });
    Ok(Unpacked {
        rows,
        cols,
        group,
        codes: Codes::U4,
        values,
        scales: out_scales,
        zeros,
        perm: None,
    })
}

struct GptqTensors<'a, 'b> {
    qweight: &'a Raw<'b>,
    qzeros: &'a Raw<'b>,
    scales: &'a Raw<'b>,
    g_idx: Option<&'a Raw<'b>>,
}

/// The act-order permutation a `g_idx` tensor (each input feature's
/// group) implies: `None` when the groups are in order (`c / group`),
/// else the features sorted by group, so stored column `j` falls in group
/// `j / group`.
fn act_order(
    g_idx: Option<&Raw<'_>>,
    groups: usize,
    group: usize,
    cols: usize,
) -> Result<Option<Vec<u32>>, EngineError> {
    let Some(g) = g_idx else {
        return Ok(None);
    };
    g.shape_is(&[cols])?;
    let idx = g.ints()?;
    if idx.iter().any(|&i| i < 0 || i as usize >= groups) {
        return Err(EngineError::Config {
            field: g.name.clone(),
            message: format!("names a group outside 0..{groups}"),
        });
    }
    let idx: Vec<usize> = idx.into_iter().map(|i| i as usize).collect();
    if idx.iter().enumerate().all(|(c, &gi)| gi == c / group) {
        return Ok(None);
    }
    let mut p: Vec<u32> = (0..cols as u32).collect();
    p.sort_by_key(|&c| idx[c as usize]);
    // Every group must hold exactly `group` features.
    if p.iter()
        .enumerate()
        .any(|(j, &c)| idx[c as usize] != j / group)
    {
        return Err(EngineError::Config {
            field: g.name.clone(),
            message: format!("its groups do not each hold {group} input features"),
        });
    }
    Ok(Some(p))
}

fn gptq(
    t: GptqTensors<'_, '_>,
    bits: u32,
    zeros_minus_one: bool,
    rows: usize,
    cols: usize,
    group: usize,
) -> Result<Unpacked, EngineError> {
    let per = (32 / bits) as usize;
    let mask = (1u32 << bits) - 1;
    let groups = cols / group;
    if !cols.is_multiple_of(per) || !rows.is_multiple_of(per) {
        return Err(EngineError::Config {
            field: t.qweight.name.clone(),
            message: format!("a [{rows}, {cols}] matrix does not fill whole GPTQ words of {per}"),
        });
    }
    t.qweight.shape_is(&[cols / per, rows])?;
    t.qzeros.shape_is(&[groups, rows / per])?;
    t.scales.shape_is(&[groups, rows])?;
    let (w, z, s) = (t.qweight.words()?, t.qzeros.words()?, t.scales.floats()?);
    let perm = act_order(t.g_idx, groups, group, cols)?;
    let mut values = vec![0u8; rows * cols];
    values
        .par_chunks_mut(TILE * cols)
        .enumerate()
        .for_each(|(t, tile)| {
            let r0 = t * TILE;
            for j in 0..cols {
                let c = perm.as_ref().map_or(j, |p| p[j] as usize);
                let shift = bits * (c % per) as u32;
                for (i, row) in tile.chunks_exact_mut(cols).enumerate() {
                    row[j] = ((w[(c / per) * rows + r0 + i] >> shift) & mask) as u8;
                }
            }
        });
    let plus = if zeros_minus_one { 1.0 } else { 0.0 };
    let out_scales = per_row(rows, groups, |g, r| s[g * rows + r]);
    let zeros = per_row(rows, groups, |g, r| {
        let word = z[g * (rows / per) + r / per];
        ((word >> (bits * (r % per) as u32)) & mask) as f32 + plus
    });
    Ok(Unpacked {
        rows,
        cols,
        group,
        codes: if bits == 4 { Codes::U4 } else { Codes::U8 },
        values,
        scales: out_scales,
        zeros,
        perm,
    })
}

fn fp8(
    weight: &Raw<'_>,
    scale: &Raw<'_>,
    rows: usize,
    cols: usize,
    block: Option<[usize; 2]>,
) -> Result<Unpacked, EngineError> {
    weight.shape_is(&[rows, cols])?;
    let codes = weight.e4m3()?;
    let s = scale.floats()?;
    // Per row and column block: the scale of weight (r, c) is
    // `scale_of(r, c / width)`.
    let (width, scale_of): (usize, Box<dyn Fn(usize, usize) -> f32 + '_>) = match block {
        Some([br, bc]) => {
            scale.shape_is(&[rows.div_ceil(br), cols.div_ceil(bc)])?;
            let per_row = cols.div_ceil(bc);
            (bc, Box::new(move |r, b| s[(r / br) * per_row + b]))
        }
        None if s.len() == 1 => (cols, Box::new(move |_, _| s[0])),
        None if s.len() == rows => (cols, Box::new(move |r, _| s[r])),
        None => {
            return Err(EngineError::Shape {
                name: scale.name.clone(),
                got: scale.shape.clone(),
                want: vec![rows, 1],
            });
        }
    };
    let group = match fp8_group(cols, width) {
        Some(g) => g,
        // No whole-block group fits (tiny or odd shapes): one scale per
        // block of columns is still exact if the block divides the row.
        None => width,
    };
    if !cols.is_multiple_of(group) {
        return Err(EngineError::Config {
            field: scale.name.clone(),
            message: format!(
                "scale blocks of {width} columns do not divide the {cols} input features"
            ),
        });
    }
    let groups = cols / group;
    let mut scales = vec![0f32; rows * groups];
    for r in 0..rows {
        for g in 0..groups {
            scales[r * groups + g] = scale_of(r, g * group / width);
        }
    }
    Ok(Unpacked {
        rows,
        cols,
        group,
        codes: Codes::F8,
        values: codes.to_vec(),
        zeros: vec![0.0; scales.len()],
        scales,
        perm: None,
    })
}

fn packed_int(
    packed: &Raw<'_>,
    scale: &Raw<'_>,
    g_idx: Option<&Raw<'_>>,
    bits: u32,
    [rows, cols, group]: [usize; 3],
) -> Result<Unpacked, EngineError> {
    let per = (32 / bits) as usize;
    let mask = (1u32 << bits) - 1;
    let words_per_row = cols.div_ceil(per);
    packed.shape_is(&[rows, words_per_row])?;
    let groups = cols / group;
    scale.shape_is(&[rows, groups])?;
    let (w, s) = (packed.words()?, scale.floats()?);
    // llm-compressor's act order (`actorder: group`): `weight_g_idx` holds
    // each input feature's group, as GPTQ's `g_idx` does.
    let perm = act_order(g_idx, groups, group, cols)?;
    let mut values = vec![0u8; rows * cols];
    values
        .par_chunks_mut(cols)
        .enumerate()
        .for_each(|(r, row)| {
            for (j, v) in row.iter_mut().enumerate() {
                let c = perm.as_ref().map_or(j, |p| p[j] as usize);
                let word = w[r * words_per_row + c / per];
                *v = ((word >> (bits * (c % per) as u32)) & mask) as u8;
            }
        });
    let zero = (1u32 << (bits - 1)) as f32;
    Ok(Unpacked {
        rows,
        cols,
        group,
        codes: if bits == 4 { Codes::U4 } else { Codes::U8 },
        values,
        zeros: vec![zero; s.len()],
        scales: s,
        perm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp8_groups_are_whole_blocks_dividing_the_row() {
        assert_eq!(fp8_group(5120, 128), Some(128));
        assert_eq!(fp8_group(64, 128), Some(64));
        assert_eq!(fp8_group(96, 128), Some(32));
        assert_eq!(fp8_group(48, 128), None);
    }
}
