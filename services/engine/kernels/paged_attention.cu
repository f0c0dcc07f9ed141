// Paged attention on NVIDIA GPUs, read in place from the KV pool that
// services/engine/src/serving/reference.rs lays out: per layer one buffer of
// keys and one of values, [slots, kv_heads * head_dim], a token's row being
// its slot, block_table[pos / block_size] * block_size + pos % block_size.
//
// Two kernels, both causal, both grouped-query (query head h reads key/value
// head h / (heads / kv_heads)), both with the online softmax of
// flash-attention (running maximum and sum, rescaled as keys arrive), in f32
// whatever the storage type:
//
// - paged_decode_<T>: one query row per block of 128 threads (4 warps). Each
//   warp takes every 4th key; a key's score is one warp-wide dot product
//   (each lane holds head_dim / 32 dimensions); at the end the four warps'
//   partial results are merged through shared memory. For decode steps,
//   where each sequence has one new row.
// - paged_prefill_<T>: a tile of TILE query rows of one sequence and one
//   head per block. Keys and values are staged through shared memory a
//   block-size run at a time, so each is read from global memory once per
//   tile instead of once per row; each warp owns TILE / 4 rows.
//
// Launch layout (both): blockDim 128. Decode: grid (decode rows, heads),
// row_index says which row of q each is. Prefill: grid (tiles, heads),
// tile_seq/tile_row0 say which sequence and first row.
// Compiled by build.rs (feature `cuda`) with nvcc to PTX for sm_80+.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#define WARPS 4
#define MAX_D 256
#define PER_LANE (MAX_D / 32)
#define TILE 16
#define KV_RUN 16

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ void from_f(float x, float *o) { *o = x; }
__device__ __forceinline__ void from_f(float x, __nv_bfloat16 *o) { *o = __float2bfloat16(x); }
__device__ __forceinline__ void from_f(float x, __half *o) { *o = __float2half(x); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The slot of position `pos` of a sequence whose block table is `table`.
__device__ __forceinline__ int64_t slot_of(const int32_t *table, int pos, int block_size) {
    return (int64_t)table[pos / block_size] * block_size + pos % block_size;
}

// q: [rows, heads, d]; out: [rows, heads, d]; grid row x computes row
// row_index[x] of q, of sequence row_seq[x] at position row_pos[x]; tables:
// [seqs, max_blocks].
template <typename T>
__device__ void paged_decode(const T *__restrict__ q, const T *__restrict__ k_cache,
                             const T *__restrict__ v_cache, const int32_t *__restrict__ tables,
                             const int32_t *__restrict__ row_seq,
                             const int32_t *__restrict__ row_pos,
                             const int32_t *__restrict__ row_index, T *__restrict__ out,
                             int heads, int kv_heads, int d, int block_size, int max_blocks,
                             float scale) {
    const int x = blockIdx.x, h = blockIdx.y;
    const int row = row_index[x];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = h / (heads / kv_heads);
    const int32_t *table = tables + (int64_t)row_seq[x] * max_blocks;
    const int last = row_pos[x];  // keys 0..=last are visible
    const int64_t width = (int64_t)kv_heads * d;
    const T *qr = q + ((int64_t)row * heads + h) * d;

    float qv[PER_LANE], acc[PER_LANE];
    for (int i = 0; i < PER_LANE; ++i) {
        int j = lane + 32 * i;
        qv[i] = j < d ? to_f(qr[j]) * scale : 0.f;
        acc[i] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int t = warp; t <= last; t += WARPS) {
        const int64_t base = slot_of(table, t, block_size) * width + (int64_t)g * d;
        float s = 0.f;
        for (int i = 0; i < PER_LANE; ++i) {
            int j = lane + 32 * i;
            if (j < d) s += qv[i] * to_f(k_cache[base + j]);
        }
        s = warp_sum(s);
        const float nm = fmaxf(m, s);
        const float c = __expf(m - nm), p = __expf(s - nm);
        l = l * c + p;
        for (int i = 0; i < PER_LANE; ++i) {
            int j = lane + 32 * i;
            acc[i] = acc[i] * c + (j < d ? p * to_f(v_cache[base + j]) : 0.f);
        }
        m = nm;
    }
    // Merge the warps: each publishes (m, l, acc); warp 0 combines.
    __shared__ float sm[WARPS], sl[WARPS], sacc[WARPS][MAX_D];
    if (lane == 0) {
        sm[warp] = m;
        sl[warp] = l;
    }
    for (int i = 0; i < PER_LANE; ++i) {
        int j = lane + 32 * i;
        if (j < d) sacc[warp][j] = acc[i];
    }
    __syncthreads();
    if (warp != 0) return;
    float gm = -INFINITY;
    for (int w = 0; w < WARPS; ++w) gm = fmaxf(gm, sm[w]);
    float gl = 0.f;
    for (int w = 0; w < WARPS; ++w) gl += sm[w] == -INFINITY ? 0.f : sl[w] * __expf(sm[w] - gm);
    T *o = out + ((int64_t)row * heads + h) * d;
    for (int i = 0; i < PER_LANE; ++i) {
        int j = lane + 32 * i;
        if (j >= d) continue;
        float a = 0.f;
        for (int w = 0; w < WARPS; ++w)
            if (sm[w] != -INFINITY) a += sacc[w][j] * __expf(sm[w] - gm);
        from_f(a / gl, &o[j]);
    }
}

// A tile of TILE rows of one sequence: tile_seq[b] is the sequence of tile
// b, tile_row0[b] its first row in q (rows are consecutive positions),
// tile_rows[b] how many rows it has (<= TILE), tile_pos0[b] the position of
// its first row.
template <typename T>
__device__ void paged_prefill(const T *__restrict__ q, const T *__restrict__ k_cache,
                              const T *__restrict__ v_cache, const int32_t *__restrict__ tables,
                              const int32_t *__restrict__ tile_seq,
                              const int32_t *__restrict__ tile_row0,
                              const int32_t *__restrict__ tile_rows,
                              const int32_t *__restrict__ tile_pos0, T *__restrict__ out,
                              int heads, int kv_heads, int d, int block_size, int max_blocks,
                              float scale) {
    const int b = blockIdx.x, h = blockIdx.y;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = h / (heads / kv_heads);
    const int32_t *table = tables + (int64_t)tile_seq[b] * max_blocks;
    const int row0 = tile_row0[b], rows = tile_rows[b], pos0 = tile_pos0[b];
    const int64_t width = (int64_t)kv_heads * d;
    constexpr int ROWS_PER_WARP = TILE / WARPS;

    float qv[ROWS_PER_WARP][PER_LANE], acc[ROWS_PER_WARP][PER_LANE];
    float m[ROWS_PER_WARP], l[ROWS_PER_WARP];
    for (int r = 0; r < ROWS_PER_WARP; ++r) {
        const int row = warp * ROWS_PER_WARP + r;
        const T *qr = q + ((int64_t)(row0 + row) * heads + h) * d;
        for (int i = 0; i < PER_LANE; ++i) {
            int j = lane + 32 * i;
            qv[r][i] = (row < rows && j < d) ? to_f(qr[j]) * scale : 0.f;
            acc[r][i] = 0.f;
        }
        m[r] = -INFINITY;
        l[r] = 0.f;
    }
    __shared__ float ks[KV_RUN][MAX_D], vs[KV_RUN][MAX_D];
    const int visible = pos0 + rows;  // keys the tile's last row sees
    for (int t0 = 0; t0 < visible; t0 += KV_RUN) {
        const int n = min(KV_RUN, visible - t0);
        __syncthreads();
        for (int e = threadIdx.x; e < n * d; e += blockDim.x) {
            const int t = e / d, j = e % d;
            const int64_t at = slot_of(table, t0 + t, block_size) * width + (int64_t)g * d + j;
            ks[t][j] = to_f(k_cache[at]);
            vs[t][j] = to_f(v_cache[at]);
        }
        __syncthreads();
        for (int r = 0; r < ROWS_PER_WARP; ++r) {
            const int row = warp * ROWS_PER_WARP + r;
            if (row >= rows) break;
            const int last = pos0 + row;  // causal bound
            for (int t = 0; t < n && t0 + t <= last; ++t) {
                float s = 0.f;
                for (int i = 0; i < PER_LANE; ++i) {
                    int j = lane + 32 * i;
                    if (j < d) s += qv[r][i] * ks[t][j];
                }
                s = warp_sum(s);
                const float nm = fmaxf(m[r], s);
                const float c = __expf(m[r] - nm), p = __expf(s - nm);
                l[r] = l[r] * c + p;
                for (int i = 0; i < PER_LANE; ++i) {
                    int j = lane + 32 * i;
                    acc[r][i] = acc[r][i] * c + (j < d ? p * vs[t][j] : 0.f);
                }
                m[r] = nm;
            }
        }
    }
    for (int r = 0; r < ROWS_PER_WARP; ++r) {
        const int row = warp * ROWS_PER_WARP + r;
        if (row >= rows) break;
        T *o = out + ((int64_t)(row0 + row) * heads + h) * d;
        for (int i = 0; i < PER_LANE; ++i) {
            int j = lane + 32 * i;
            if (j < d) from_f(acc[r][i] / l[r], &o[j]);
        }
    }
}

#define INSTANTIATE(NAME, T)                                                                    \
    extern "C" __global__ void paged_decode_##NAME(                                             \
        const T *q, const T *k, const T *v, const int32_t *tables, const int32_t *row_seq,     \
        const int32_t *row_pos, const int32_t *row_index, T *out, int heads, int kv_heads,     \
        int d, int block_size, int max_blocks, float scale) {                                  \
        paged_decode<T>(q, k, v, tables, row_seq, row_pos, row_index, out, heads, kv_heads, d, \
                        block_size, max_blocks, scale);                                        \
    }                                                                                          \
    extern "C" __global__ void paged_prefill_##NAME(                                            \
        const T *q, const T *k, const T *v, const int32_t *tables, const int32_t *tile_seq,    \
        const int32_t *tile_row0, const int32_t *tile_rows, const int32_t *tile_pos0, T *out,  \
        int heads, int kv_heads, int d, int block_size, int max_blocks, float scale) {         \
        paged_prefill<T>(q, k, v, tables, tile_seq, tile_row0, tile_rows, tile_pos0, out,      \
                         heads, kv_heads, d, block_size, max_blocks, scale);                   \
    }

INSTANTIATE(f32, float)
INSTANTIATE(bf16, __nv_bfloat16)
INSTANTIATE(f16, __half)
