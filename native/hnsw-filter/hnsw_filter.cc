// Strata's HNSW search addon: searches a usearch 2.25 index file (the bytes usearch's `save` wrote)
// with a row filter applied inside the graph walk, which usearch's JavaScript binding cannot do.
//
// It uses usearch's public graph class (`index_gt`) and file layout from the headers in the npm
// package, not `index_dense_gt`: the dense wrapper keeps the graph, the vectors and the metric
// private, and this addon needs all three (slot-indexed filtering, an exact scan of the passing rows,
// its own distance kernels). The dense layout it reads, as `index_dense_gt::save` writes it:
//   u32 rows, u32 bytes per vector | rows × vector bytes | 64-byte head ("usearch", versions, kinds,
//   counts) | index_gt serialization (header, levels, nodes).
// Keys are Strata row offsets (0 .. n-1); a file whose keys are not exactly that is refused.
// It also builds float graphs (see "Building"): index_gt shaped with distances on 8-bit codes (from
// 64 dimensions) or an f16 copy of the rows where those are within their error bounds, these f32
// kernels elsewhere, written in that same dense
// layout (f32 vectors, renumbered so that slot = row), so the binding reads what it builds.
//
// Distances are usearch's: l2sq, 1 − dot (ip), 1 − cosine (cos), hamming bits, tanimoto (Jaccard
// distance), so callers convert them to Milvus scores exactly as they convert the binding's. The
// kernels are our own, compiled for several x86 levels and picked at open time, so the addon needs no
// `-march` and no NumKong build (minutes of compile time for kernels we do not use). They are not the
// binding's bit for bit: bit counts are exact and equal, float distances are within 1e-6 relative
// (1e-6 absolute below 1) of the binding's, and are faster (see "Float distances" below). Where two
// candidates are closer than that, the walk may rank them, and so proceed, differently.
//
// Everything is synchronous on the calling thread, like the binding; a batch of queries may spread
// over `threads` threads (one search context each).

#include <node_api.h>

#define USEARCH_USE_OPENMP 0
#define USEARCH_USE_NUMKONG 0
#include <usearch/index_dense.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#if defined(__GNUC__) && __GNUC__ >= 11 && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#endif

namespace {

using namespace unum::usearch;

using key_t = default_key_t;   // u64, as the binding writes
using slot_t = default_slot_t; // u32
using graph_t = index_gt<float, key_t, slot_t, aligned_allocator_gt<byte_t, 64>, memory_mapping_allocator_gt<64>>;
using member_cref_t = graph_t::member_cref_t;
using member_citerator_t = graph_t::member_citerator_t;

#if defined(__GNUC__) && __GNUC__ >= 11 && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define STRATA_X86_VERSIONS 1
#define STRATA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// The float kernels have one body per level, compiled for that level's instructions only (no -march)
// and picked at open time from what the CPU supports (float_kernel_levels).
#define STRATA_AVX2 __attribute__((target("avx2,fma")))
#define STRATA_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#else
#define STRATA_X86_VERSIONS 0
#define STRATA_CLONES
#endif

// Float distances. The usearch binding (NumKong) widens both vectors to f64 and sums in one chain of
// 8-lane FMAs, so a long vector waits on the latency of that chain, and pays a conversion for every
// element of both. Ours, with u = 2⁻²⁴ (one f32 rounding):
//
// - f64 sums (`*_f64sum`): the query is widened once per search, each stored vector as it is read,
//   into four independent accumulators. Products and differences are exact, so these equal the
//   binding's up to the final rounding to f32 (the order of summation differs). IP always uses them
//   (with f32 sums its error would scale with |q|·|b| rather than with the distance); L2 and cosine
//   use them as the fallback below.
// - f32 sums (`*_f32sum`, L2 and cosine with AVX2 or AVX-512): f32 FMAs into four accumulators, no
//   lane taking more than four terms before the four are added and flushed into f64, so the error
//   is bounded whatever the dimension. L2: within 8u of the exact sum (2u from rounding q − b, 4u
//   from the four adds, 2u from adding the accumulators), ≈ 5e-7 relative with the f32 result's own
//   rounding. Cosine: the dot within 6u of |q|·|b|, |b|² within 6u relative, so the distance within
//   ≈ 9u ≈ 5.4e-7 absolute. Where f32 could underflow or overflow (L2 or |b|² outside [1e-30,
//   DBL_MAX], |q|² below 1e-30, an infinite dot) the distance is redone with f64 sums.
//
// The contract callers rely on: a distance is within 1e-6 × max(1, |d|) of the binding's, i.e.
// 1e-6 relative, or 1e-6 absolute below 1 (cosine distances lie in [0, 2]). Rankings can differ
// where two distances are that close, so the walk can differ from the binding's at such a tie.
constexpr double f32sum_min_k = 1e-30;

// ---- f64 sums --------------------------------------------------------------------------------

// Every f64-sum kernel takes the query either widened once (double, searches) or as the stored
// floats (float, the builder's distances between two stored vectors): widening is exact, so both
// give the same bits.

/** Σ (q − b)² over n floats of b. */
template <typename query_at>
double l2sq_f64sum_portable(query_at const* q, float const* b, std::size_t n) noexcept {
    // Eight lanes, so the loop vectorises (SSE2, NEON) without -ffast-math.
    double acc[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (std::size_t j = 0; j != 8; ++j) {
            double d = double(q[i + j]) - double(b[i + j]);
            acc[j] += d * d;
        }
    double tail = 0;
    for (; i != n; ++i) {
        double d = double(q[i]) - double(b[i]);
        tail += d * d;
    }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])) + tail;
}

/** Σ q·b. */
template <typename query_at>
double dot_f64sum_portable(query_at const* q, float const* b, std::size_t n) noexcept {
    double acc[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (std::size_t j = 0; j != 8; ++j)
            acc[j] += double(q[i + j]) * double(b[i + j]);
    double tail = 0;
    for (; i != n; ++i)
        tail += double(q[i]) * double(b[i]);
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])) + tail;
}

/** Σ q·b and Σ b² in one pass (cosine; the query's norm is computed once per search). */
template <typename query_at>
void dot_norm_f64sum_portable(query_at const* q, float const* b, std::size_t n, double* dot, double* bb) noexcept {
    double ab[8] = {}, b2[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (std::size_t j = 0; j != 8; ++j) {
            double v = double(b[i + j]);
            ab[j] += double(q[i + j]) * v;
            b2[j] += v * v;
        }
    double ab_tail = 0, b2_tail = 0;
    for (; i != n; ++i) {
        double v = double(b[i]);
        ab_tail += double(q[i]) * v;
        b2_tail += v * v;
    }
    *dot = ((ab[0] + ab[4]) + (ab[2] + ab[6])) + ((ab[1] + ab[5]) + (ab[3] + ab[7])) + ab_tail;
    *bb = ((b2[0] + b2[4]) + (b2[2] + b2[6])) + ((b2[1] + b2[5]) + (b2[3] + b2[7])) + b2_tail;
}

// ---- f32 sums ----------------------------------------------------------------------------------
// They take the query both as floats and widened (q64, or null to widen as they go: same result):
// the portable versions have no f32 kernel and use the f64 one (compilers vectorise it for SSE2 and
// NEON; the bound above is then moot).

double l2sq_f32sum_portable(float const* q, double const* q64, float const* b, std::size_t n) noexcept {
    return q64 ? l2sq_f64sum_portable(q64, b, n) : l2sq_f64sum_portable(q, b, n);
}

void dot_norm_f32sum_portable(float const* q, double const* q64, float const* b, std::size_t n, double* dot,
                              double* bb) noexcept {
    if (q64)
        dot_norm_f64sum_portable(q64, b, n, dot, bb);
    else
        dot_norm_f64sum_portable(q, b, n, dot, bb);
}

#if STRATA_X86_VERSIONS
// GCC 12's AVX-512 headers warn that their own _mm512_undefined_* values are uninitialized (a false
// positive of that release).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

// AVX-512, f64 sums: 32 floats a round into four accumulators; up to three more blocks of 8 go one
// to each of the first three, the last 1..7 floats (masked loads) to the fourth.

/** The sum of four accumulators' 32 lanes (GCC 12's own reduction warns from its header). */
STRATA_AVX512 inline double reduce_avx512(__m512d a, __m512d b, __m512d c, __m512d d) noexcept {
    __m512d s = _mm512_add_pd(_mm512_add_pd(a, b), _mm512_add_pd(c, d));
    s = _mm512_add_pd(s, _mm512_shuffle_f64x2(s, s, 0x4E)); // + the other 256-bit half
    s = _mm512_add_pd(s, _mm512_shuffle_f64x2(s, s, 0xB1)); // + the other 128-bit quarter
    s = _mm512_add_pd(s, _mm512_permute_pd(s, 0x55));       // + the other double
    return _mm_cvtsd_f64(_mm512_castpd512_pd128(s));
}
STRATA_AVX512 inline double reduce_avx512(__m512d a) noexcept {
    __m512d z = _mm512_setzero_pd();
    return reduce_avx512(a, z, z, z);
}
STRATA_AVX512 inline __m512d widen_avx512(float const* b) noexcept { return _mm512_cvtps_pd(_mm256_loadu_ps(b)); }
/** Eight query values as doubles (loaded, or widened from floats), all or the first lanes of `m`. */
STRATA_AVX512 inline __m512d query_avx512(double const* q) noexcept { return _mm512_loadu_pd(q); }
STRATA_AVX512 inline __m512d query_avx512(float const* q) noexcept { return widen_avx512(q); }
STRATA_AVX512 inline __m512d query_avx512(__mmask8 m, double const* q) noexcept { return _mm512_maskz_loadu_pd(m, q); }
STRATA_AVX512 inline __m512d query_avx512(__mmask8 m, float const* q) noexcept {
    return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, q));
}
template <typename query_at> STRATA_AVX512 inline __m512d diff_avx512(query_at const* q, float const* b) noexcept {
    return _mm512_sub_pd(query_avx512(q), widen_avx512(b));
}

template <typename query_at>
STRATA_AVX512 double l2sq_f64sum_avx512(query_at const* q, float const* b, std::size_t n) noexcept {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512d d0 = diff_avx512(q + i, b + i), d1 = diff_avx512(q + i + 8, b + i + 8);
        __m512d d2 = diff_avx512(q + i + 16, b + i + 16), d3 = diff_avx512(q + i + 24, b + i + 24);
        s0 = _mm512_fmadd_pd(d0, d0, s0);
        s1 = _mm512_fmadd_pd(d1, d1, s1);
        s2 = _mm512_fmadd_pd(d2, d2, s2);
        s3 = _mm512_fmadd_pd(d3, d3, s3);
    }
    if (i + 8 <= n) {
        __m512d d = diff_avx512(q + i, b + i);
        s0 = _mm512_fmadd_pd(d, d, s0), i += 8;
    }
    if (i + 8 <= n) {
        __m512d d = diff_avx512(q + i, b + i);
        s1 = _mm512_fmadd_pd(d, d, s1), i += 8;
    }
    if (i + 8 <= n) {
        __m512d d = diff_avx512(q + i, b + i);
        s2 = _mm512_fmadd_pd(d, d, s2), i += 8;
    }
    if (i != n) {
        __mmask8 m = __mmask8((1u << (n - i)) - 1);
        __m512d d = _mm512_sub_pd(query_avx512(m, q + i), _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, b + i)));
        s3 = _mm512_fmadd_pd(d, d, s3);
    }
    return reduce_avx512(s0, s1, s2, s3);
}

template <typename query_at>
STRATA_AVX512 double dot_f64sum_avx512(query_at const* q, float const* b, std::size_t n) noexcept {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_pd(query_avx512(q + i), widen_avx512(b + i), s0);
        s1 = _mm512_fmadd_pd(query_avx512(q + i + 8), widen_avx512(b + i + 8), s1);
        s2 = _mm512_fmadd_pd(query_avx512(q + i + 16), widen_avx512(b + i + 16), s2);
        s3 = _mm512_fmadd_pd(query_avx512(q + i + 24), widen_avx512(b + i + 24), s3);
    }
    if (i + 8 <= n)
        s0 = _mm512_fmadd_pd(query_avx512(q + i), widen_avx512(b + i), s0), i += 8;
    if (i + 8 <= n)
        s1 = _mm512_fmadd_pd(query_avx512(q + i), widen_avx512(b + i), s1), i += 8;
    if (i + 8 <= n)
        s2 = _mm512_fmadd_pd(query_avx512(q + i), widen_avx512(b + i), s2), i += 8;
    if (i != n) {
        __mmask8 m = __mmask8((1u << (n - i)) - 1);
        s3 = _mm512_fmadd_pd(query_avx512(m, q + i), _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, b + i)), s3);
    }
    return reduce_avx512(s0, s1, s2, s3);
}

template <typename query_at>
STRATA_AVX512 void dot_norm_f64sum_avx512(query_at const* q, float const* b, std::size_t n, double* dot,
                                          double* bb) noexcept {
    __m512d x0 = _mm512_setzero_pd(), x1 = x0, x2 = x0, x3 = x0, y0 = x0, y1 = x0, y2 = x0, y3 = x0;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512d v0 = widen_avx512(b + i), v1 = widen_avx512(b + i + 8);
        __m512d v2 = widen_avx512(b + i + 16), v3 = widen_avx512(b + i + 24);
        x0 = _mm512_fmadd_pd(query_avx512(q + i), v0, x0);
        x1 = _mm512_fmadd_pd(query_avx512(q + i + 8), v1, x1);
        x2 = _mm512_fmadd_pd(query_avx512(q + i + 16), v2, x2);
        x3 = _mm512_fmadd_pd(query_avx512(q + i + 24), v3, x3);
        y0 = _mm512_fmadd_pd(v0, v0, y0);
        y1 = _mm512_fmadd_pd(v1, v1, y1);
        y2 = _mm512_fmadd_pd(v2, v2, y2);
        y3 = _mm512_fmadd_pd(v3, v3, y3);
    }
    if (i + 8 <= n) {
        __m512d v = widen_avx512(b + i);
        x0 = _mm512_fmadd_pd(query_avx512(q + i), v, x0), y0 = _mm512_fmadd_pd(v, v, y0), i += 8;
    }
    if (i + 8 <= n) {
        __m512d v = widen_avx512(b + i);
        x1 = _mm512_fmadd_pd(query_avx512(q + i), v, x1), y1 = _mm512_fmadd_pd(v, v, y1), i += 8;
    }
    if (i + 8 <= n) {
        __m512d v = widen_avx512(b + i);
        x2 = _mm512_fmadd_pd(query_avx512(q + i), v, x2), y2 = _mm512_fmadd_pd(v, v, y2), i += 8;
    }
    if (i != n) {
        __mmask8 m = __mmask8((1u << (n - i)) - 1);
        __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, b + i));
        x3 = _mm512_fmadd_pd(query_avx512(m, q + i), v, x3), y3 = _mm512_fmadd_pd(v, v, y3);
    }
    *dot = reduce_avx512(x0, x1, x2, x3);
    *bb = reduce_avx512(y0, y1, y2, y3);
}

// AVX-512, f32 sums: 64 floats a round into four accumulators, flushed into f64 every four rounds;
// the last 1..63 floats go as up to three blocks of 16 and a masked rest, one term a lane, and a
// last flush. So no lane ever sums more than four terms in f32.

/** acc + (a0 + a1) + (a2 + a3), the f32 sum widened. */
STRATA_AVX512 inline __m512d flush_avx512(__m512d acc, __m512 a0, __m512 a1, __m512 a2, __m512 a3) noexcept {
    __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(s)));
    return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1))));
}
STRATA_AVX512 inline __m512 sub_avx512(float const* q, float const* b) noexcept {
    return _mm512_sub_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(b));
}

STRATA_AVX512 double l2sq_f32sum_avx512(float const* q, double const*, float const* b, std::size_t n) noexcept {
    __m512d sum = _mm512_setzero_pd();
    std::size_t i = 0;
    while (i + 64 <= n) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int round = 0; round != 4 && i + 64 <= n; ++round, i += 64) {
            __m512 d0 = sub_avx512(q + i, b + i), d1 = sub_avx512(q + i + 16, b + i + 16);
            __m512 d2 = sub_avx512(q + i + 32, b + i + 32), d3 = sub_avx512(q + i + 48, b + i + 48);
            a0 = _mm512_fmadd_ps(d0, d0, a0);
            a1 = _mm512_fmadd_ps(d1, d1, a1);
            a2 = _mm512_fmadd_ps(d2, d2, a2);
            a3 = _mm512_fmadd_ps(d3, d3, a3);
        }
        sum = flush_avx512(sum, a0, a1, a2, a3);
    }
    if (i != n) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        if (i + 16 <= n)
            a0 = sub_avx512(q + i, b + i), a0 = _mm512_mul_ps(a0, a0), i += 16;
        if (i + 16 <= n)
            a1 = sub_avx512(q + i, b + i), a1 = _mm512_mul_ps(a1, a1), i += 16;
        if (i + 16 <= n)
            a2 = sub_avx512(q + i, b + i), a2 = _mm512_mul_ps(a2, a2), i += 16;
        if (i != n) {
            __mmask16 m = __mmask16((1u << (n - i)) - 1);
            a3 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, b + i));
            a3 = _mm512_mul_ps(a3, a3);
        }
        sum = flush_avx512(sum, a0, a1, a2, a3);
    }
    return reduce_avx512(sum);
}

STRATA_AVX512 void dot_norm_f32sum_avx512(float const* q, double const*, float const* b, std::size_t n, double* dot,
                               double* bb) noexcept {
    __m512d xs = _mm512_setzero_pd(), ys = xs;
    std::size_t i = 0;
    while (i + 64 <= n) {
        __m512 x0 = _mm512_setzero_ps(), x1 = x0, x2 = x0, x3 = x0, y0 = x0, y1 = x0, y2 = x0, y3 = x0;
        for (int round = 0; round != 4 && i + 64 <= n; ++round, i += 64) {
            __m512 v0 = _mm512_loadu_ps(b + i), v1 = _mm512_loadu_ps(b + i + 16);
            __m512 v2 = _mm512_loadu_ps(b + i + 32), v3 = _mm512_loadu_ps(b + i + 48);
            x0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), v0, x0);
            x1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), v1, x1);
            x2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 32), v2, x2);
            x3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 48), v3, x3);
            y0 = _mm512_fmadd_ps(v0, v0, y0);
            y1 = _mm512_fmadd_ps(v1, v1, y1);
            y2 = _mm512_fmadd_ps(v2, v2, y2);
            y3 = _mm512_fmadd_ps(v3, v3, y3);
        }
        xs = flush_avx512(xs, x0, x1, x2, x3);
        ys = flush_avx512(ys, y0, y1, y2, y3);
    }
    if (i != n) {
        // Whole blocks of 16, then the masked rest (an all-zero mask once nothing is left).
        std::size_t blocks = (n - i) / 16;
        __mmask16 m = __mmask16((1u << ((n - i) % 16)) - 1);
        __m512 z = _mm512_setzero_ps(), v0 = z, v1 = z, v2 = z, w0 = z, w1 = z, w2 = z;
        if (blocks > 0)
            v0 = _mm512_loadu_ps(b + i), w0 = _mm512_loadu_ps(q + i);
        if (blocks > 1)
            v1 = _mm512_loadu_ps(b + i + 16), w1 = _mm512_loadu_ps(q + i + 16);
        if (blocks > 2)
            v2 = _mm512_loadu_ps(b + i + 32), w2 = _mm512_loadu_ps(q + i + 32);
        i += 16 * blocks;
        __m512 v3 = _mm512_maskz_loadu_ps(m, b + i), w3 = _mm512_maskz_loadu_ps(m, q + i);
        xs = flush_avx512(xs, _mm512_mul_ps(w0, v0), _mm512_mul_ps(w1, v1), _mm512_mul_ps(w2, v2),
                          _mm512_mul_ps(w3, v3));
        ys = flush_avx512(ys, _mm512_mul_ps(v0, v0), _mm512_mul_ps(v1, v1), _mm512_mul_ps(v2, v2),
                          _mm512_mul_ps(v3, v3));
    }
    *dot = reduce_avx512(xs);
    *bb = reduce_avx512(ys);
}

#pragma GCC diagnostic pop

// AVX2: the same shapes at half the width (f64: 16 floats a round, blocks of 4, the last 1..3 in a
// scalar tail; f32: 32 floats a round, blocks of 8, the last 1..7 summed in f64). The cosine
// kernels' eight accumulators and four temporaries fit AVX2's sixteen registers.

STRATA_AVX2 inline double reduce_avx2(__m256d s) noexcept {
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
STRATA_AVX2 inline double reduce_avx2(__m256d a, __m256d b, __m256d c, __m256d d) noexcept {
    return reduce_avx2(_mm256_add_pd(_mm256_add_pd(a, b), _mm256_add_pd(c, d)));
}
STRATA_AVX2 inline __m256d widen_avx2(float const* b) noexcept { return _mm256_cvtps_pd(_mm_loadu_ps(b)); }
STRATA_AVX2 inline __m256d query_avx2(double const* q) noexcept { return _mm256_loadu_pd(q); }
STRATA_AVX2 inline __m256d query_avx2(float const* q) noexcept { return widen_avx2(q); }
template <typename query_at> STRATA_AVX2 inline __m256d diff_avx2(query_at const* q, float const* b) noexcept {
    return _mm256_sub_pd(query_avx2(q), widen_avx2(b));
}

template <typename query_at>
STRATA_AVX2 double l2sq_f64sum_avx2(query_at const* q, float const* b, std::size_t n) noexcept {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d d0 = diff_avx2(q + i, b + i), d1 = diff_avx2(q + i + 4, b + i + 4);
        __m256d d2 = diff_avx2(q + i + 8, b + i + 8), d3 = diff_avx2(q + i + 12, b + i + 12);
        s0 = _mm256_fmadd_pd(d0, d0, s0);
        s1 = _mm256_fmadd_pd(d1, d1, s1);
        s2 = _mm256_fmadd_pd(d2, d2, s2);
        s3 = _mm256_fmadd_pd(d3, d3, s3);
    }
    if (i + 4 <= n) {
        __m256d d = diff_avx2(q + i, b + i);
        s0 = _mm256_fmadd_pd(d, d, s0), i += 4;
    }
    if (i + 4 <= n) {
        __m256d d = diff_avx2(q + i, b + i);
        s1 = _mm256_fmadd_pd(d, d, s1), i += 4;
    }
    if (i + 4 <= n) {
        __m256d d = diff_avx2(q + i, b + i);
        s2 = _mm256_fmadd_pd(d, d, s2), i += 4;
    }
    double tail = 0;
    for (; i != n; ++i) {
        double d = double(q[i]) - double(b[i]);
        tail += d * d;
    }
    return reduce_avx2(s0, s1, s2, s3) + tail;
}

template <typename query_at>
STRATA_AVX2 double dot_f64sum_avx2(query_at const* q, float const* b, std::size_t n) noexcept {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_pd(query_avx2(q + i), widen_avx2(b + i), s0);
        s1 = _mm256_fmadd_pd(query_avx2(q + i + 4), widen_avx2(b + i + 4), s1);
        s2 = _mm256_fmadd_pd(query_avx2(q + i + 8), widen_avx2(b + i + 8), s2);
        s3 = _mm256_fmadd_pd(query_avx2(q + i + 12), widen_avx2(b + i + 12), s3);
    }
    if (i + 4 <= n)
        s0 = _mm256_fmadd_pd(query_avx2(q + i), widen_avx2(b + i), s0), i += 4;
    if (i + 4 <= n)
        s1 = _mm256_fmadd_pd(query_avx2(q + i), widen_avx2(b + i), s1), i += 4;
    if (i + 4 <= n)
        s2 = _mm256_fmadd_pd(query_avx2(q + i), widen_avx2(b + i), s2), i += 4;
    double tail = 0;
    for (; i != n; ++i)
        tail += double(q[i]) * double(b[i]);
    return reduce_avx2(s0, s1, s2, s3) + tail;
}

template <typename query_at>
STRATA_AVX2 void dot_norm_f64sum_avx2(query_at const* q, float const* b, std::size_t n, double* dot,
                                      double* bb) noexcept {
    __m256d x0 = _mm256_setzero_pd(), x1 = x0, x2 = x0, x3 = x0, y0 = x0, y1 = x0, y2 = x0, y3 = x0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d v0 = widen_avx2(b + i), v1 = widen_avx2(b + i + 4);
        __m256d v2 = widen_avx2(b + i + 8), v3 = widen_avx2(b + i + 12);
        x0 = _mm256_fmadd_pd(query_avx2(q + i), v0, x0);
        x1 = _mm256_fmadd_pd(query_avx2(q + i + 4), v1, x1);
        x2 = _mm256_fmadd_pd(query_avx2(q + i + 8), v2, x2);
        x3 = _mm256_fmadd_pd(query_avx2(q + i + 12), v3, x3);
        y0 = _mm256_fmadd_pd(v0, v0, y0);
        y1 = _mm256_fmadd_pd(v1, v1, y1);
        y2 = _mm256_fmadd_pd(v2, v2, y2);
        y3 = _mm256_fmadd_pd(v3, v3, y3);
    }
    if (i + 4 <= n) {
        __m256d v = widen_avx2(b + i);
        x0 = _mm256_fmadd_pd(query_avx2(q + i), v, x0), y0 = _mm256_fmadd_pd(v, v, y0), i += 4;
    }
    if (i + 4 <= n) {
        __m256d v = widen_avx2(b + i);
        x1 = _mm256_fmadd_pd(query_avx2(q + i), v, x1), y1 = _mm256_fmadd_pd(v, v, y1), i += 4;
    }
    if (i + 4 <= n) {
        __m256d v = widen_avx2(b + i);
        x2 = _mm256_fmadd_pd(query_avx2(q + i), v, x2), y2 = _mm256_fmadd_pd(v, v, y2), i += 4;
    }
    double ab_tail = 0, b2_tail = 0;
    for (; i != n; ++i) {
        double v = double(b[i]);
        ab_tail += double(q[i]) * v;
        b2_tail += v * v;
    }
    *dot = reduce_avx2(x0, x1, x2, x3) + ab_tail;
    *bb = reduce_avx2(y0, y1, y2, y3) + b2_tail;
}

/** acc + (a0 + a1) + (a2 + a3), the f32 sum widened. */
STRATA_AVX2 inline __m256d flush_avx2(__m256d acc, __m256 a0, __m256 a1, __m256 a2, __m256 a3) noexcept {
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(s)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)));
}
STRATA_AVX2 inline __m256 sub_avx2(float const* q, float const* b) noexcept {
    return _mm256_sub_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(b));
}

STRATA_AVX2 double l2sq_f32sum_avx2(float const* q, double const*, float const* b, std::size_t n) noexcept {
    __m256d sum = _mm256_setzero_pd();
    std::size_t i = 0;
    while (i + 32 <= n) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int round = 0; round != 4 && i + 32 <= n; ++round, i += 32) {
            __m256 d0 = sub_avx2(q + i, b + i), d1 = sub_avx2(q + i + 8, b + i + 8);
            __m256 d2 = sub_avx2(q + i + 16, b + i + 16), d3 = sub_avx2(q + i + 24, b + i + 24);
            a0 = _mm256_fmadd_ps(d0, d0, a0);
            a1 = _mm256_fmadd_ps(d1, d1, a1);
            a2 = _mm256_fmadd_ps(d2, d2, a2);
            a3 = _mm256_fmadd_ps(d3, d3, a3);
        }
        sum = flush_avx2(sum, a0, a1, a2, a3);
    }
    if (i + 8 <= n) {
        __m256 a[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int k = 0; k != 3 && i + 8 <= n; ++k, i += 8)
            a[k] = sub_avx2(q + i, b + i), a[k] = _mm256_mul_ps(a[k], a[k]);
        sum = flush_avx2(sum, a[0], a[1], a[2], _mm256_setzero_ps());
    }
    double tail = 0;
    for (; i != n; ++i) {
        double d = double(q[i]) - double(b[i]);
        tail += d * d;
    }
    return reduce_avx2(sum) + tail;
}

STRATA_AVX2 void dot_norm_f32sum_avx2(float const* q, double const*, float const* b, std::size_t n, double* dot,
                               double* bb) noexcept {
    __m256d xs = _mm256_setzero_pd(), ys = xs;
    std::size_t i = 0;
    while (i + 32 <= n) {
        __m256 x0 = _mm256_setzero_ps(), x1 = x0, x2 = x0, x3 = x0, y0 = x0, y1 = x0, y2 = x0, y3 = x0;
        for (int round = 0; round != 4 && i + 32 <= n; ++round, i += 32) {
            __m256 v0 = _mm256_loadu_ps(b + i), v1 = _mm256_loadu_ps(b + i + 8);
            __m256 v2 = _mm256_loadu_ps(b + i + 16), v3 = _mm256_loadu_ps(b + i + 24);
            x0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), v0, x0);
            x1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), v1, x1);
            x2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), v2, x2);
            x3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), v3, x3);
            y0 = _mm256_fmadd_ps(v0, v0, y0);
            y1 = _mm256_fmadd_ps(v1, v1, y1);
            y2 = _mm256_fmadd_ps(v2, v2, y2);
            y3 = _mm256_fmadd_ps(v3, v3, y3);
        }
        xs = flush_avx2(xs, x0, x1, x2, x3);
        ys = flush_avx2(ys, y0, y1, y2, y3);
    }
    if (i + 8 <= n) {
        __m256 z = _mm256_setzero_ps(), x[3] = {z, z, z}, y[3] = {z, z, z};
        for (int k = 0; k != 3 && i + 8 <= n; ++k, i += 8) {
            __m256 v = _mm256_loadu_ps(b + i);
            x[k] = _mm256_mul_ps(_mm256_loadu_ps(q + i), v), y[k] = _mm256_mul_ps(v, v);
        }
        xs = flush_avx2(xs, x[0], x[1], x[2], z);
        ys = flush_avx2(ys, y[0], y[1], y[2], z);
    }
    double ab_tail = 0, b2_tail = 0;
    for (; i != n; ++i) {
        double v = double(b[i]);
        ab_tail += double(q[i]) * v;
        b2_tail += v * v;
    }
    *dot = reduce_avx2(xs) + ab_tail;
    *bb = reduce_avx2(ys) + b2_tail;
}
#endif

/** One level's float kernels (see above); the f64 sums take the query widened or as floats. */
struct float_kernels_t {
    char const* name;
    double (*l2sq_f64sum)(double const* q, float const* b, std::size_t n) noexcept;
    double (*dot_f64sum)(double const* q, float const* b, std::size_t n) noexcept;
    void (*dot_norm_f64sum)(double const* q, float const* b, std::size_t n, double* dot, double* bb) noexcept;
    double (*l2sq_f32sum)(float const* q, double const* q64, float const* b, std::size_t n) noexcept;
    void (*dot_norm_f32sum)(float const* q, double const* q64, float const* b, std::size_t n, double* dot,
                            double* bb) noexcept;
    double (*l2sq_f64sum_fq)(float const* q, float const* b, std::size_t n) noexcept;
    double (*dot_f64sum_fq)(float const* q, float const* b, std::size_t n) noexcept;
    void (*dot_norm_f64sum_fq)(float const* q, float const* b, std::size_t n, double* dot, double* bb) noexcept;
};

#define STRATA_FLOAT_KERNELS(name, level)                                                                            \
    float_kernels_t {                                                                                                \
        name, l2sq_f64sum_##level<double>, dot_f64sum_##level<double>, dot_norm_f64sum_##level<double>,              \
            l2sq_f32sum_##level, dot_norm_f32sum_##level, l2sq_f64sum_##level<float>, dot_f64sum_##level<float>,     \
            dot_norm_f64sum_##level<float>                                                                           \
    }
constexpr float_kernels_t portable_kernels = STRATA_FLOAT_KERNELS("portable", portable);
#if STRATA_X86_VERSIONS
constexpr float_kernels_t avx2_kernels = STRATA_FLOAT_KERNELS("avx2", avx2);
constexpr float_kernels_t avx512_kernels = STRATA_FLOAT_KERNELS("avx512", avx512);
#endif
#undef STRATA_FLOAT_KERNELS

/** The levels this CPU runs, best first (the first is the one searches use). */
std::vector<float_kernels_t const*> float_kernel_levels() {
    std::vector<float_kernels_t const*> out;
#if STRATA_X86_VERSIONS
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        out.push_back(&avx512_kernels);
    if (avx2)
        out.push_back(&avx2_kernels);
#endif
    out.push_back(&portable_kernels);
    return out;
}

// ---- bits --------------------------------------------------------------------------------------

/** Bits set in a XOR b over `bytes` bytes (hamming). */
STRATA_CLONES std::uint64_t xor_count(std::uint8_t const* a, std::uint8_t const* b, std::size_t bytes) noexcept {
    std::uint64_t x = 0;
    std::size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        std::uint64_t u, v;
        std::memcpy(&u, a + i, 8);
        std::memcpy(&v, b + i, 8);
        x += __builtin_popcountll(u ^ v);
    }
    for (; i != bytes; ++i)
        x += __builtin_popcount(unsigned(a[i] ^ b[i]));
    return x;
}

/** Bits set in a AND b and in a OR b over `bytes` bytes (tanimoto). */
STRATA_CLONES void and_or_counts(std::uint8_t const* a, std::uint8_t const* b, std::size_t bytes,
                                 std::uint64_t* and_out, std::uint64_t* or_out) noexcept {
    std::uint64_t n = 0, o = 0;
    std::size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        std::uint64_t u, v;
        std::memcpy(&u, a + i, 8);
        std::memcpy(&v, b + i, 8);
        n += __builtin_popcountll(u & v);
        o += __builtin_popcountll(u | v);
    }
    for (; i != bytes; ++i) {
        n += __builtin_popcount(unsigned(a[i] & b[i]));
        o += __builtin_popcount(unsigned(a[i] | b[i]));
    }
    *and_out = n, *or_out = o;
}

enum class kind_t { l2sq, ip, cos, hamming, tanimoto };

struct scored_t {
    float distance;
    std::uint32_t slot;
};
struct nearer_first_t {
    bool operator()(scored_t const& a, scored_t const& b) const noexcept { return a.distance > b.distance; }
};
struct farther_first_t {
    bool operator()(scored_t const& a, scored_t const& b) const noexcept { return a.distance < b.distance; }
};

/** One search thread's scratch: a visited bitset over slots (cleared word by word) and the two heaps. */
struct walk_context_t {
    std::vector<std::uint64_t> visited;
    std::vector<std::uint32_t> touched;
    std::vector<scored_t> next; // min-heap: frontier
    std::vector<scored_t> top;  // max-heap: best passing so far
    std::vector<std::uint32_t> batch, hop;
    std::vector<double> query_f64;    // the float query, widened once per search
    std::vector<float> sq8_weights;   // the query ⊙ step, for walks steered by 8-bit codes
    std::vector<byte_t> query_bits;   // the binary query, in usearch's bit order

    bool visit(std::uint32_t slot) noexcept {
        std::uint64_t& w = visited[slot >> 6];
        std::uint64_t bit = std::uint64_t(1) << (slot & 63);
        if (w & bit)
            return false;
        if (!w)
            touched.push_back(slot >> 6);
        w |= bit;
        return true;
    }
    void reset() noexcept {
        for (std::uint32_t i : touched)
            visited[i] = 0;
        touched.clear();
        next.clear();
        top.clear();
    }
};

struct sq8_codes_t;
struct index_t;
std::size_t sq8_bytes(index_t const& ix) noexcept;

/** The open index: the graph (viewing file or memory bytes), where the vectors are, row ↔ slot maps. */
struct index_t {
    std::string path;          // memory_mapped_file_t keeps a pointer to it
    std::vector<byte_t> owned; // the bytes, when loaded rather than mapped
    graph_t graph;
    byte_t const* bytes = nullptr;     // start of the usearch payload
    std::size_t payload_length = 0;    // through the end of the last node
    byte_t const* vectors = nullptr;   // rows × vector_bytes, in slot order
    std::size_t vector_bytes = 0;
    std::size_t dim = 0;               // floats, or bits for b1
    std::size_t n = 0;
    kind_t kind = kind_t::l2sq;
    bool binary = false;
    float_kernels_t const* kernels = &portable_kernels;
    std::vector<std::uint32_t> slot_row; // the key (row offset) stored in each slot
    std::vector<std::uint32_t> row_slot;
    bool slots_are_rows = false;         // slot s holds row s (the addon's own builds), so a filter
                                         // is tested without the slot → row lookup
    std::size_t contexts = 1;
    std::size_t entry_slot = 0;
    std::size_t max_level = 0;
    std::vector<walk_context_t> walks;     // one per search context
    std::unique_ptr<sq8_codes_t> sq8;      // built on the first two-hop walk that steers by them

    index_t();
    ~index_t();

    byte_t const* vector_at(std::size_t slot) const noexcept { return vectors + slot * vector_bytes; }
};

/**
 * A float query as the kernels take it: the floats, the same widened (or null, when the f64 sums
 * widen as they go: the builder's queries are stored vectors, scored against few others each), and
 * for cosine |q|² and whether the f32 kernels may run.
 */
struct float_query_t {
    float const* q = nullptr;
    double const* q64 = nullptr;
    double norm_sq = 0;
    bool cos_f32sum = false;

    float_query_t(float_kernels_t const& k, kind_t kind, float const* query, double const* query_f64,
                  std::size_t dim) noexcept
        : q(query), q64(query_f64) {
        if (kind == kind_t::cos) {
            norm_sq = q64 ? k.dot_f64sum(q64, q, dim) : k.dot_f64sum_fq(q, q, dim);
            cos_f32sum = norm_sq >= f32sum_min_k;
        }
    }
    /** With |q|² already known (the builder keeps every stored vector's). */
    float_query_t(float const* query, double query_norm_sq) noexcept
        : q(query), norm_sq(query_norm_sq), cos_f32sum(query_norm_sq >= f32sum_min_k) {}
};

constexpr double max_k = std::numeric_limits<double>::max();

/**
 * The float distance of `fq` to the stored vector `b` (l2sq, ip or cos): what searches score, and
 * what the builder scores wherever its f16 distances are not provably close enough (or are off).
 */
inline float float_distance(kind_t kind, float_kernels_t const& k, float_query_t const& fq, float const* b,
                            std::size_t d) noexcept {
    switch (kind) {
    case kind_t::l2sq: {
        double r = k.l2sq_f32sum(fq.q, fq.q64, b, d);
        if (!(r >= f32sum_min_k && r <= max_k)) // NaN, or f32 may have under- or overflowed
            r = fq.q64 ? k.l2sq_f64sum(fq.q64, b, d) : k.l2sq_f64sum_fq(fq.q, b, d);
        return float(r);
    }
    case kind_t::ip: return 1.0f - float(fq.q64 ? k.dot_f64sum(fq.q64, b, d) : k.dot_f64sum_fq(fq.q, b, d));
    case kind_t::cos: {
        double ab = 0, bb = 0;
        if (fq.cos_f32sum)
            k.dot_norm_f32sum(fq.q, fq.q64, b, d, &ab, &bb);
        if (!fq.cos_f32sum || !(bb >= f32sum_min_k && bb <= max_k && std::fabs(ab) <= max_k)) {
            if (fq.q64)
                k.dot_norm_f64sum(fq.q64, b, d, &ab, &bb);
            else
                k.dot_norm_f64sum_fq(fq.q, b, d, &ab, &bb);
        }
        double aa = fq.norm_sq;
        if (aa == 0 && bb == 0)
            return 0.0f;
        if (ab == 0)
            return 1.0f;
        double r = 1 - ab / (std::sqrt(aa) * std::sqrt(bb));
        return float(r > 0 ? r : 0);
    }
    default: return 0;
    }
}

/**
 * Distance of one query to stored vectors, as usearch's binding computes it up to the kernels'
 * rounding (see there): l2sq and cosine summed to f64, rounded to f32; ip as 1 − (f32) dot; hamming
 * as the count; tanimoto as 1 − ∩/∪ in f32 (0 for two empty sets). The query is widened (or
 * bit-reversed) once, into the search context's scratch, and its norm computed once.
 */
struct metric_t {
    index_t const* ix;
    float_query_t query{nullptr, 0.0};  // float vectors
    byte_t const* query_bits = nullptr; // binary vectors

    metric_t(index_t const* index, byte_t const* q, walk_context_t& scratch) : ix(index) {
        if (ix->binary) {
            // Strata packs bit i of a row at (1 << i % 8) of byte i / 8, usearch at (128 >> i % 8).
            auto& bits = scratch.query_bits;
            bits.resize(ix->vector_bytes);
            for (std::size_t i = 0; i != bits.size(); ++i) {
                unsigned v = static_cast<unsigned char>(q[i]), r = 0;
                for (int b = 0; b != 8; ++b)
                    r |= ((v >> b) & 1u) << (7 - b);
                bits[i] = static_cast<byte_t>(r);
            }
            query_bits = bits.data();
            return;
        }
        auto& wide = scratch.query_f64;
        wide.resize(ix->dim);
        auto floats = reinterpret_cast<float const*>(q);
        for (std::size_t i = 0; i != ix->dim; ++i)
            wide[i] = double(floats[i]);
        query = float_query_t(*ix->kernels, ix->kind, floats, wide.data(), ix->dim);
    }
    // index_gt takes the metric by reference; a copy would share the context's scratch.
    metric_t(metric_t const&) = delete;
    metric_t& operator=(metric_t const&) = delete;

    float operator()(byte_t const* b) const noexcept {
        switch (ix->kind) {
        case kind_t::l2sq:
        case kind_t::ip:
        case kind_t::cos: return float_distance(ix->kind, *ix->kernels, query, reinterpret_cast<float const*>(b), ix->dim);
        case kind_t::hamming:
            return float(xor_count(reinterpret_cast<std::uint8_t const*>(query_bits),
                                   reinterpret_cast<std::uint8_t const*>(b), ix->vector_bytes));
        case kind_t::tanimoto: {
            std::uint64_t a, o;
            and_or_counts(reinterpret_cast<std::uint8_t const*>(query_bits), reinterpret_cast<std::uint8_t const*>(b),
                          ix->vector_bytes, &a, &o);
            return o != 0 ? 1.0f - float(a) / float(o) : 0.0f;
        }
        }
        return 0;
    }
    // The forms index_gt calls: its query (ignored: this metric holds the query, converted for
    // binary vectors) against a member, by iterator or by reference.
    float operator()(byte_t const*, member_citerator_t m) const noexcept { return (*this)(ix->vector_at(get_slot(m))); }
    float operator()(byte_t const*, member_cref_t m) const noexcept { return (*this)(ix->vector_at(get_slot(m))); }
};

/** Starts loading `bytes` bytes at `p` into the caches, a line at a time (the one prefetch loop). */
inline void prefetch_bytes(void const* p, std::size_t bytes) noexcept {
    auto b = static_cast<byte_t const*>(p);
    for (std::size_t l = 0; l < bytes; l += 64)
        __builtin_prefetch(b + l, 0, 1);
}

/** Starts loading a node's level-0 list (its first 192 bytes: head, count and 32 slots' worth). */
inline void prefetch_graph_node(graph_t const& graph, std::size_t slot) noexcept {
    prefetch_bytes(graph.at(static_cast<slot_t>(slot)).key.ptr(), 192);
}

/**
 * Starts loading the vectors of the neighbours a usearch walk (search or build) is about to score,
 * and their neighbour lists: the walk expands the nearest of them next, and the read of its list
 * otherwise waits on memory before the next round of prefetches can even start. Measured on
 * 200k × 128 on a quiet machine: searches ~8 % faster, builds 10–20 %; within the noise when the
 * host is busy, and on 50k × 768, where the vectors' reads dominate.
 */
struct prefetch_t {
    index_t const* ix;
    template <typename iterator_at> void operator()(iterator_at begin, iterator_at end) const noexcept {
        for (; begin != end; ++begin) {
            prefetch_bytes(ix->vector_at(get_slot(begin)), ix->vector_bytes);
            prefetch_graph_node(ix->graph, get_slot(begin));
        }
    }
};

struct filter_t {
    std::uint32_t const* slot_row;
    std::uint8_t const* allow;
    bool operator()(member_cref_t m) const noexcept { return allow[slot_row ? slot_row[m.slot] : m.slot] != 0; }
};

// ---------------------------------------------------------------------------------------------
// N-API plumbing
// ---------------------------------------------------------------------------------------------

struct js_error {
    std::string message;
};

void check(napi_env env, napi_status s, char const* what) {
    if (s != napi_ok)
        throw js_error{std::string("hnsw-filter: ") + what};
}

struct typed_t {
    napi_typedarray_type type;
    void* data;
    std::size_t length; // elements
};

typed_t typed_arg(napi_env env, napi_value v, char const* what) {
    bool is = false;
    check(env, napi_is_typedarray(env, v, &is), what);
    if (!is)
        throw js_error{std::string(what) + " must be a typed array"};
    typed_t t{};
    napi_value ab;
    std::size_t offset;
    check(env, napi_get_typedarray_info(env, v, &t.type, &t.length, &t.data, &ab, &offset), what);
    return t;
}

double number_arg(napi_env env, napi_value v, char const* what) {
    double d;
    if (napi_get_value_double(env, v, &d) != napi_ok)
        throw js_error{std::string(what) + " must be a number"};
    return d;
}

std::size_t count_arg(napi_env env, napi_value v, char const* what, std::size_t max) {
    double d = number_arg(env, v, what);
    if (!(d >= 0) || d > double(max) || d != std::floor(d))
        throw js_error{std::string(what) + " out of range"};
    return static_cast<std::size_t>(d);
}

bool is_nullish(napi_env env, napi_value v) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    return t == napi_undefined || t == napi_null;
}

void finalize_index(napi_env, void* data, void*) { delete static_cast<index_t*>(data); }

// Handles are tagged by what they wrap, so an index handle never reaches a builder function or the
// other way round (both are plain objects to JavaScript).
constexpr napi_type_tag index_tag{0x5d1c0e3a8f4b4a21ULL, 0x9e7f3c2b1a0d4e55ULL};
constexpr napi_type_tag builder_tag{0x2b8e6f1d4c3a4b97ULL, 0xa41f5e0c7d2b4c13ULL};

bool has_tag(napi_env env, napi_value handle, napi_type_tag const& tag) {
    bool tagged = false;
    return napi_check_object_type_tag(env, handle, &tag, &tagged) == napi_ok && tagged;
}

index_t* unwrap(napi_env env, napi_value handle) {
    void* p = nullptr;
    if (!has_tag(env, handle, index_tag))
        throw js_error{"hnsw-filter: not an index handle"};
    if (napi_unwrap(env, handle, &p) != napi_ok || p == nullptr)
        throw js_error{"hnsw-filter: index is closed"};
    return static_cast<index_t*>(p);
}

template <typename fn_at> napi_value guarded(napi_env env, fn_at&& fn) {
    try {
        return fn();
    } catch (js_error const& e) {
        napi_throw_error(env, nullptr, e.message.c_str());
    } catch (std::bad_alloc const&) {
        napi_throw_error(env, nullptr, "hnsw-filter: out of memory");
    } catch (...) {
        napi_throw_error(env, nullptr, "hnsw-filter: unexpected failure");
    }
    return nullptr;
}

std::vector<napi_value> args_of(napi_env env, napi_callback_info info, std::size_t want) {
    std::size_t argc = want;
    std::vector<napi_value> argv(want);
    check(env, napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr), "arguments");
    if (argc < want)
        throw js_error{"hnsw-filter: expected " + std::to_string(want) + " arguments"};
    return argv;
}

// ---------------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------------

/** Parses the dense layout of `file`'s bytes and views the graph in them. */
void attach(index_t& ix, memory_mapped_file_t file) {
    byte_t const* b = file.data();
    std::size_t size = file.size();
    if (size < 8 + 64 + sizeof(index_serialized_header_t))
        throw js_error{"file too short for a usearch index"};
    std::uint32_t dims[2];
    std::memcpy(dims, b, 8);
    std::size_t rows = dims[0], cols = dims[1];
    std::size_t head_at = 8 + rows * cols;
    if (head_at + 64 + sizeof(index_serialized_header_t) > size)
        throw js_error{"vectors run past the end of the file"};

    index_dense_head_buffer_t buffer;
    std::memcpy(buffer, b + head_at, 64);
    index_dense_head_t head{buffer};
    if (std::memcmp(buffer, default_magic(), std::strlen(default_magic())) != 0)
        throw js_error{"not a usearch index (magic)"};
    if (head.version_major != USEARCH_VERSION_MAJOR || head.version_minor < 10)
        throw js_error{"unsupported usearch file version"};
    if (head.kind_key != scalar_kind_t::u64_k || head.kind_compressed_slot != scalar_kind_t::u32_k)
        throw js_error{"unsupported key or slot type"};
    if (bool(head.multi) || std::uint64_t(head.count_deleted) != 0)
        throw js_error{"multi-key indexes and indexes with removed vectors are not supported"};

    scalar_kind_t scalar = head.kind_scalar;
    metric_kind_t metric = head.kind_metric;
    std::size_t dim = std::size_t(std::uint64_t(head.dimensions));
    if (scalar == scalar_kind_t::f32_k) {
        ix.binary = false;
        if (cols != dim * 4)
            throw js_error{"vector size does not match the dimensions"};
        switch (metric) {
        case metric_kind_t::l2sq_k: ix.kind = kind_t::l2sq; break;
        case metric_kind_t::ip_k: ix.kind = kind_t::ip; break;
        case metric_kind_t::cos_k: ix.kind = kind_t::cos; break;
        default: throw js_error{"unsupported metric for f32 vectors"};
        }
    } else if (scalar == scalar_kind_t::b1x8_k) {
        ix.binary = true;
        if (dim % 8 != 0 || cols != dim / 8)
            throw js_error{"vector size does not match the dimensions"};
        switch (metric) {
        case metric_kind_t::hamming_k: ix.kind = kind_t::hamming; break;
        case metric_kind_t::tanimoto_k: ix.kind = kind_t::tanimoto; break;
        default: throw js_error{"unsupported metric for b1 vectors"};
        }
    } else {
        throw js_error{"unsupported scalar kind (only f32 and b1)"};
    }

    if (rows == 0 && (ix.owned.empty() || ix.owned.data() != b)) {
        // usearch drops the mapping of an empty graph; keep the (tiny) payload for `save`.
        ix.owned.assign(b, b + size);
        attach(ix, memory_mapped_file_t(ix.owned.data(), ix.owned.size()));
        return;
    }
    ix.dim = dim;
    ix.kernels = float_kernel_levels().front();
    ix.vector_bytes = cols;
    ix.n = rows;
    ix.bytes = b;
    ix.vectors = b + 8;
    std::size_t graph_at = head_at + 64;

    // One search context per hardware thread, as the binding reserves.
    ix.contexts = (std::max<std::size_t>)(1, std::thread::hardware_concurrency());
    index_limits_t limits(0, ix.contexts);
    if (!ix.graph.try_reserve(limits))
        throw js_error{"out of memory"};
    serialization_result_t r = ix.graph.view(std::move(file), graph_at);
    if (!r)
        throw js_error{std::string("usearch view failed: ") + r.error.release()};
    if (ix.graph.size() != rows)
        throw js_error{"graph size does not match the vector count"};
    index_serialized_header_t header;
    std::memcpy(&header, b + graph_at, sizeof(header));
    ix.entry_slot = std::size_t(header.entry_slot);
    ix.max_level = std::size_t(header.max_level);
    if (rows != 0 && ix.entry_slot >= rows)
        throw js_error{"entry point out of range"};
    ix.walks.resize(ix.contexts); // their visited sets are allocated on first use
    ix.payload_length = graph_at + ix.graph.serialized_length();
    if (ix.payload_length > size)
        throw js_error{"graph runs past the end of the file"};

    ix.slot_row.resize(rows);
    ix.row_slot.assign(rows, UINT32_MAX);
    bool identity = true;
    for (std::size_t s = 0; s != rows; ++s) {
        std::uint64_t key = ix.graph.at(static_cast<slot_t>(s)).key;
        if (key >= rows || ix.row_slot[key] != UINT32_MAX)
            throw js_error{"keys are not the row offsets 0 .. n-1"};
        ix.slot_row[s] = static_cast<std::uint32_t>(key);
        ix.row_slot[key] = static_cast<std::uint32_t>(s);
        identity = identity && key == s;
    }
    ix.slots_are_rows = identity;
}

napi_value wrap_index(napi_env env, std::unique_ptr<index_t> ix) {
    napi_value obj;
    check(env, napi_create_object(env, &obj), "handle");
    check(env, napi_type_tag_object(env, obj, &index_tag), "tag");
    check(env, napi_wrap(env, obj, ix.get(), finalize_index, nullptr, nullptr), "wrap");
    index_t* raw = ix.release();
    // Let the GC see the mapping's weight (only what is read into our memory counts).
    int64_t adjusted;
    napi_adjust_external_memory(env, int64_t(raw->owned.size() + raw->n * 8), &adjusted);
    return obj;
}

/** open(path, mode "view" | "load") → handle. */
napi_value js_open(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 2);
        std::size_t len;
        check(env, napi_get_value_string_utf8(env, argv[0], nullptr, 0, &len), "path must be a string");
        std::string path(len, '\0');
        check(env, napi_get_value_string_utf8(env, argv[0], &path[0], len + 1, &len), "path");
        char mode[8] = {};
        check(env, napi_get_value_string_utf8(env, argv[1], mode, sizeof(mode), &len), "mode must be a string");
        bool view = std::strcmp(mode, "view") == 0;
        if (!view && std::strcmp(mode, "load") != 0)
            throw js_error{"mode must be view or load"};

        auto ix = std::make_unique<index_t>();
        ix->path = path;
        try {
            if (view) {
                memory_mapped_file_t file(ix->path.c_str());
                serialization_result_t r = file.open_if_not();
                if (!r)
                    throw js_error{std::string("cannot map ") + path + ": " + r.error.release()};
                attach(*ix, std::move(file));
            } else {
                std::FILE* f = std::fopen(path.c_str(), "rb");
                if (!f)
                    throw js_error{std::string("cannot open ") + path + ": " + std::strerror(errno)};
                std::fseek(f, 0, SEEK_END);
                long size = std::ftell(f);
                std::fseek(f, 0, SEEK_SET);
                ix->owned.resize(size > 0 ? std::size_t(size) : 0);
                std::size_t got = ix->owned.empty() ? 0 : std::fread(ix->owned.data(), 1, ix->owned.size(), f);
                std::fclose(f);
                if (got != ix->owned.size())
                    throw js_error{std::string("short read of ") + path};
                attach(*ix, memory_mapped_file_t(ix->owned.data(), ix->owned.size()));
            }
        } catch (js_error const& e) {
            throw js_error{"hnsw-filter: " + path + ": " + e.message};
        }
        return wrap_index(env, std::move(ix));
    });
}

/** openBytes(Uint8Array) → handle over a private copy of the bytes. */
napi_value js_open_bytes(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 1);
        typed_t t = typed_arg(env, argv[0], "bytes");
        if (t.type != napi_uint8_array)
            throw js_error{"bytes must be a Uint8Array"};
        auto ix = std::make_unique<index_t>();
        ix->owned.assign(static_cast<byte_t*>(t.data), static_cast<byte_t*>(t.data) + t.length);
        try {
            attach(*ix, memory_mapped_file_t(ix->owned.data(), ix->owned.size()));
        } catch (js_error const& e) {
            throw js_error{"hnsw-filter: " + e.message};
        }
        return wrap_index(env, std::move(ix));
    });
}

/** close(handle): releases the graph and the mapping now rather than at GC. Idempotent. */
napi_value js_close(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 1);
        void* p = nullptr;
        if (!has_tag(env, argv[0], index_tag))
            throw js_error{"hnsw-filter: not an index handle"};
        if (napi_remove_wrap(env, argv[0], &p) == napi_ok && p != nullptr) {
            auto ix = static_cast<index_t*>(p);
            int64_t adjusted;
            napi_adjust_external_memory(env, -int64_t(ix->owned.size() + ix->n * 8), &adjusted);
            delete ix;
        }
        return nullptr;
    });
}

/** info(handle) → [rows, dim, vectorBytes, payloadLength]. */
napi_value js_info(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 1);
        index_t* ix = unwrap(env, argv[0]);
        double values[6] = {double(ix->n), double(ix->dim), double(ix->vector_bytes), double(ix->payload_length),
                            ix->slots_are_rows ? 1.0 : 0.0, double(sq8_bytes(*ix))};
        napi_value arr;
        check(env, napi_create_array_with_length(env, 6, &arr), "info");
        for (std::uint32_t i = 0; i != 6; ++i) {
            napi_value v;
            check(env, napi_create_double(env, values[i], &v), "info");
            check(env, napi_set_element(env, arr, i, v), "info");
        }
        return arr;
    });
}

/**
 * copyPayload(handle, out Uint8Array): copies the usearch payload (the bytes `save` writes) into
 * out[0 .. payloadLength); `out` must hold at least that many. Lets a caller put the file together
 * in memory without a round trip through a temporary file.
 */
napi_value js_copy_payload(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 2);
        index_t* ix = unwrap(env, argv[0]);
        typed_t out = typed_arg(env, argv[1], "out");
        if (out.type != napi_uint8_array || out.length < ix->payload_length)
            throw js_error{"hnsw-filter: out must be a Uint8Array of at least " + std::to_string(ix->payload_length) +
                           " bytes"};
        std::memcpy(out.data, ix->bytes, ix->payload_length);
        return nullptr;
    });
}

/** save(handle, path): writes the usearch payload (what `save` of the binding writes) to `path`. */
napi_value js_save(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 2);
        index_t* ix = unwrap(env, argv[0]);
        std::size_t len;
        check(env, napi_get_value_string_utf8(env, argv[1], nullptr, 0, &len), "path must be a string");
        std::string path(len, '\0');
        check(env, napi_get_value_string_utf8(env, argv[1], &path[0], len + 1, &len), "path");
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (!f)
            throw js_error{"hnsw-filter: cannot write " + path + ": " + std::strerror(errno)};
        std::size_t put = std::fwrite(ix->bytes, 1, ix->payload_length, f);
        bool ok = put == ix->payload_length && std::fflush(f) == 0;
        ok = std::fclose(f) == 0 && ok;
        if (!ok)
            throw js_error{"hnsw-filter: cannot write " + path};
        return nullptr;
    });
}

// ---------------------------------------------------------------------------------------------
// 8-bit steering codes
// ---------------------------------------------------------------------------------------------
//
// A two-hop walk scores 2–3× as many vectors as an unfiltered one for the same recall (it scores the
// passing neighbours of every failing neighbour), and at high dimensions each score is a read of the
// whole vector from memory: at 768 floats, 3 KB, ~0.3 µs at this machine's bandwidth, while the
// arithmetic takes ~0.02 µs. So for float vectors of sq8_min_dim or more, the two-hop walk steers by
// 8-bit codes of the vectors (a quarter of the bytes; per dimension, [min, max] in 255 steps) and
// scores exactly, from the f32 vectors, only the candidates it keeps: its top `ef` are re-scored and
// re-ranked before the best k are returned, so returned distances are the exact ones. The codes
// cost a quarter of the vectors' memory, built once per open index on its first such walk (that
// search waits ~80 ms per 50k × 768 on 2 cores, ~2 ns per value), and are reported in `info`.
// STRATA_NO_SQ8_STEERING=1 in the environment keeps f32 steering (for A/B measurements).
//
// Approximate distances from the codes, with b̂ = lo + step ⊙ c the decoded vector:
//   q·b̂ = q·lo + (q ⊙ step)·c (one product per dimension, the query side precomputed);
//   l2sq = |q|² + |b̂|² − 2 q·b̂; ip = 1 − q·b̂; cos = 1 − q·b̂ / (|q| |b̂|), |b̂|² kept per row.

constexpr std::size_t sq8_min_dim = 256;

struct sq8_codes_t {
    std::size_t dim = 0, stride = 0;  // stride: dim rounded up to 64 (zero codes, zero weights)
    std::vector<float> lo, step;      // per dimension
    std::vector<std::uint8_t> codes;  // slots × stride
    std::vector<float> norm_sq;       // |b̂|² per slot
    float (*dot)(float const*, std::uint8_t const*, std::size_t) noexcept = nullptr;
    std::size_t bytes() const noexcept { return codes.size() + norm_sq.size() * 4 + (lo.size() + step.size()) * 4; }
};

index_t::index_t() = default;
index_t::~index_t() = default;
std::size_t sq8_bytes(index_t const& ix) noexcept { return ix.sq8 ? ix.sq8->bytes() : 0; }

bool steers_by_codes(index_t const& ix) noexcept { return !ix.binary && ix.dim >= sq8_min_dim; }

/** Σ w[i] · c[i] over `stride` (a multiple of 64) dimensions. */
float sq8_dot_portable(float const* w, std::uint8_t const* c, std::size_t stride) noexcept {
    float acc[16] = {};
    for (std::size_t i = 0; i < stride; i += 16)
        for (std::size_t j = 0; j != 16; ++j)
            acc[j] += w[i + j] * float(c[i + j]);
    float total = 0;
    for (float a : acc)
        total += a;
    return total;
}

#if defined(__x86_64__) || defined(_M_X64)
STRATA_AVX512 inline __m512 sq8_codes_avx512(std::uint8_t const* p) noexcept {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<__m128i const*>(p))));
}
STRATA_AVX2 inline __m256 sq8_codes_avx2(std::uint8_t const* p) noexcept {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<__m128i const*>(p))));
}

STRATA_AVX512 float sq8_dot_avx512(float const* w, std::uint8_t const* c, std::size_t stride) noexcept {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (std::size_t i = 0; i < stride; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), sq8_codes_avx512(c + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), sq8_codes_avx512(c + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), sq8_codes_avx512(c + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), sq8_codes_avx512(c + i + 48), a3);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

STRATA_AVX2 float sq8_dot_avx2(float const* w, std::uint8_t const* c, std::size_t stride) noexcept {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (std::size_t i = 0; i < stride; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), sq8_codes_avx2(c + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), sq8_codes_avx2(c + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), sq8_codes_avx2(c + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), sq8_codes_avx2(c + i + 24), a3);
    }
    __m256 s8 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
    return _mm_cvtss_f32(s4);
}
#endif

using sq8_dot_t = float (*)(float const*, std::uint8_t const*, std::size_t) noexcept;

/** The widest sq8_dot this CPU runs (the same choice float_kernel_levels makes). */
sq8_dot_t pick_sq8_dot() noexcept {
#if defined(__x86_64__) || defined(_M_X64)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        return sq8_dot_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return sq8_dot_avx2;
#endif
    return sq8_dot_portable;
}

/** Builds `ix.sq8` from the f32 vectors (slot order). */
void build_sq8(index_t& ix) {
    auto c = std::make_unique<sq8_codes_t>();
    std::size_t n = ix.n, dim = ix.dim;
    c->dim = dim;
    c->stride = (dim + 63) / 64 * 64;
    c->lo.assign(c->stride, 0.0f);
    c->step.assign(c->stride, 0.0f);
    // Loops the compiler vectorises, over the search contexts' threads: this runs on the first
    // filtered walk, so its time is that search's latency.
    std::size_t workers = (std::min)(ix.contexts, (n + 4095) / 4096);
    auto each = [&](auto&& fn) { // fn(worker, first, end) over contiguous ranges of slots
        if (workers <= 1)
            return fn(std::size_t(0), std::size_t(0), n);
        executor_stl_t executor(workers);
        executor.fixed(workers, [&](std::size_t, std::size_t w) { fn(w, n * w / workers, n * (w + 1) / workers); });
    };
    std::vector<float> part_lo(std::max<std::size_t>(workers, 1) * dim, std::numeric_limits<float>::infinity());
    std::vector<float> part_hi(std::max<std::size_t>(workers, 1) * dim, -std::numeric_limits<float>::infinity());
    each([&](std::size_t w, std::size_t first, std::size_t end) {
        float* lo = part_lo.data() + w * dim;
        float* hi = part_hi.data() + w * dim;
        for (std::size_t s = first; s != end; ++s) {
            auto v = reinterpret_cast<float const*>(ix.vector_at(s));
            for (std::size_t i = 0; i != dim; ++i) {
                lo[i] = v[i] < lo[i] ? v[i] : lo[i];
                hi[i] = v[i] > hi[i] ? v[i] : hi[i];
            }
        }
    });
    std::vector<float> hi(dim, -std::numeric_limits<float>::infinity());
    for (std::size_t i = 0; i != dim; ++i)
        c->lo[i] = std::numeric_limits<float>::infinity();
    for (std::size_t w = 0; w != std::max<std::size_t>(workers, 1); ++w)
        for (std::size_t i = 0; i != dim; ++i) {
            c->lo[i] = (std::min)(c->lo[i], part_lo[w * dim + i]);
            hi[i] = (std::max)(hi[i], part_hi[w * dim + i]);
        }
    for (std::size_t i = 0; i != dim; ++i) {
        if (!(c->lo[i] <= hi[i]))  // no rows
            c->lo[i] = hi[i] = 0;
        double range = double(hi[i]) - double(c->lo[i]);
        c->step[i] = range > 0 ? float(range / 255) : 0.0f;
    }
    c->codes.assign(n * c->stride, 0);
    c->norm_sq.assign(n, 0.0f);
    std::vector<float> inv(dim), lo(c->lo.begin(), c->lo.end()), step(c->step.begin(), c->step.end());
    for (std::size_t i = 0; i != dim; ++i)
        inv[i] = step[i] > 0 ? 1.0f / step[i] : 0.0f;
    auto encode = [&](std::size_t s) {
        auto v = reinterpret_cast<float const*>(ix.vector_at(s));
        std::uint8_t* out = c->codes.data() + s * c->stride;
        for (std::size_t i = 0; i != dim; ++i) {
            float x = (v[i] - lo[i]) * inv[i];
            x = x < 0.0f ? 0.0f : x > 255.0f ? 255.0f : x;
            out[i] = std::uint8_t(x + 0.5f); // to nearest (halves up)
        }
        float acc[16] = {};
        for (std::size_t i = 0; i < c->stride; i += 16)
            for (std::size_t j = 0; j != 16; ++j) {
                float d = i + j < dim ? lo[i + j] + step[i + j] * float(out[i + j]) : 0.0f;
                acc[j] += d * d;
            }
        double norm = 0;
        for (float a : acc)
            norm += a;
        c->norm_sq[s] = float(norm);
    };
    each([&](std::size_t, std::size_t first, std::size_t end) {
        for (std::size_t s = first; s != end; ++s)
            encode(s);
    });
    c->dot = pick_sq8_dot();
    ix.sq8 = std::move(c);
}

/** One query's side of the code distances: q ⊙ step, q·lo, |q|². */
struct sq8_query_t {
    sq8_codes_t const* c;
    kind_t kind;
    std::vector<float>* weights;
    double q_lo = 0, q_norm_sq = 0, q_norm = 0;

    sq8_query_t(index_t const& ix, float const* q, std::vector<float>& scratch) : c(ix.sq8.get()), kind(ix.kind), weights(&scratch) {
        scratch.assign(c->stride, 0.0f);
        for (std::size_t i = 0; i != c->dim; ++i) {
            scratch[i] = q[i] * c->step[i];
            q_lo += double(q[i]) * double(c->lo[i]);
            q_norm_sq += double(q[i]) * double(q[i]);
        }
        q_norm = std::sqrt(q_norm_sq);
    }
    float operator()(std::uint32_t slot) const noexcept {
        double dot = q_lo + double(c->dot(weights->data(), c->codes.data() + std::size_t(slot) * c->stride, c->stride));
        switch (kind) {
        case kind_t::l2sq: return float((std::max)(0.0, q_norm_sq + double(c->norm_sq[slot]) - 2 * dot));
        case kind_t::ip: return float(1 - dot);
        default: {
            double nb = std::sqrt(double(c->norm_sq[slot]));
            if (q_norm == 0 || nb == 0)
                return q_norm == nb ? 0.0f : 1.0f;
            return float((std::max)(0.0, 1 - dot / (q_norm * nb)));
        }
        }
    }
    void prefetch(std::uint32_t slot) const noexcept {
        prefetch_bytes(c->codes.data() + std::size_t(slot) * c->stride, c->stride);
    }
};

// ---------------------------------------------------------------------------------------------
// Searching
// ---------------------------------------------------------------------------------------------

enum class mode_t : int { walk = 0, scan = 1, two_hop = 2 };

/** How many bytes of vectors a scoring loop keeps in flight ahead of itself (L1 holds 32–48 KB). */
constexpr std::size_t prefetch_window_bytes = 4096;

/** A graph node's head in usearch's layout: its key (u64) and its top level (i16), unaligned. */
constexpr std::size_t node_head_bytes = sizeof(key_t) + sizeof(std::int16_t);

/**
 * The level-0 neighbour list of `slot` read straight from its node (key u64, level i16, count u32,
 * slots u32 — unaligned; see write_graph_by_row): `neighbors()` also checks the level, one more
 * read of a node that is usually not in cache yet.
 */
inline byte_t const* level0(index_t const& ix, std::uint32_t slot, std::uint32_t& count) noexcept {
    byte_t const* node = ix.graph.at(static_cast<slot_t>(slot)).key.ptr();
    std::memcpy(&count, node + node_head_bytes, sizeof(count));
    // Never past the list's capacity, whatever the file says (callers size buffers by it).
    count = (std::min)(count, std::uint32_t(ix.graph.config().connectivity_base));
    return node + node_head_bytes + sizeof(count);
}

inline void prefetch_vector(index_t const& ix, std::uint32_t slot) noexcept {
    prefetch_bytes(ix.vector_at(slot), ix.vector_bytes);
}

/** Writes the best `wanted` of `top` (any order) to the outputs, nearest first, ties to the lower row. */
std::size_t emit(index_t const& ix, std::vector<scored_t>& top, std::size_t wanted, std::int32_t* keys,
                 float* distances) {
    std::sort(top.begin(), top.end(), [&](scored_t const& a, scored_t const& b) {
        return a.distance < b.distance || (a.distance == b.distance && ix.slot_row[a.slot] < ix.slot_row[b.slot]);
    });
    std::size_t count = (std::min)(top.size(), wanted);
    for (std::size_t i = 0; i != count; ++i)
        keys[i] = std::int32_t(ix.slot_row[top[i].slot]), distances[i] = top[i].distance;
    return count;
}

/** Keeps the `limit` nearest in a max-heap; returns the current k-th distance (∞ until full). */
inline float keep_nearest(std::vector<scored_t>& top, std::size_t limit, scored_t c) {
    if (top.size() < limit) {
        top.push_back(c);
        std::push_heap(top.begin(), top.end(), farther_first_t{});
    } else if (c.distance < top.front().distance) {
        std::pop_heap(top.begin(), top.end(), farther_first_t{});
        top.back() = c;
        std::push_heap(top.begin(), top.end(), farther_first_t{});
    }
    return top.size() == limit ? top.front().distance : std::numeric_limits<float>::infinity();
}

/**
 * Exact top-`wanted` of one query over `slots` (the passing rows' slots, in row order). Vectors are
 * prefetched a block ahead: the rows are scattered, so without it every distance waits on memory.
 */
std::size_t scan_one(index_t const& ix, byte_t const* q, std::size_t wanted, std::vector<std::uint32_t> const& slots,
                     walk_context_t& w, std::int32_t* keys, float* distances, std::size_t* computed) {
    metric_t metric(&ix, q, w);
    auto& top = w.top;
    top.clear();
    constexpr std::size_t ahead = 16;
    std::size_t m = slots.size();
    for (std::size_t i = 0; i != m && i != ahead; ++i)
        prefetch_vector(ix, slots[i]);
    float radius = std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i != m; ++i) {
        if (i + ahead < m)
            prefetch_vector(ix, slots[i + ahead]);
        float d = metric(ix.vector_at(slots[i]));
        // Rows come in increasing order, so a later row tied with the k-th stays out, as it should.
        if (d < radius)
            radius = keep_nearest(top, wanted, {d, slots[i]});
    }
    *computed += m;
    return emit(ix, top, wanted, keys, distances);
}

/** usearch's own walk (index_gt::search); with a filter, every neighbour steers, only passing rows count. */
std::size_t walk_one(index_t const& ix, byte_t const* q, std::size_t wanted, std::size_t ef,
                     std::uint8_t const* allow, std::size_t context, walk_context_t& w, std::int32_t* keys,
                     float* distances, std::size_t* computed) {
    metric_t metric(&ix, q, w);
    index_search_config_t config;
    config.thread = context;
    config.expansion = ef;
    prefetch_t prefetch{&ix};
    graph_t::search_result_t r =
        allow ? ix.graph.search(q, wanted, metric, config, filter_t{ix.slots_are_rows ? nullptr : ix.slot_row.data(), allow}, prefetch)
              : ix.graph.search(q, wanted, metric, config, dummy_predicate_t{}, prefetch);
    if (!r)
        throw js_error{std::string("hnsw-filter: search failed: ") + r.error.release()};
    std::size_t count = r.size();
    for (std::size_t i = 0; i != count; ++i) {
        graph_t::match_t m = r.at(i);
        keys[i] = std::int32_t(ix.slot_row[m.member.slot]);
        distances[i] = m.distance;
    }
    *computed += r.computed_distances;
    return count;
}

/**
 * The walk for selective filters (ACORN-1's expansion on the plain HNSW graph): a neighbour that
 * fails the filter is neither scored nor queued; the neighbours that pass among ITS neighbours are
 * scored instead. The walk thus moves over the passing rows only, with two hops as their edges, and
 * scores about as many vectors as an unfiltered walk (usearch's filtered walk scores ~1/s times more,
 * for a fraction s passing). Below a few percent the passing rows stop being connected through two
 * hops and recall drops; the caller scans exactly there instead.
 */
template <bool slots_are_rows, bool by_codes>
std::size_t walk_two_hop(index_t const& ix, byte_t const* q, std::size_t wanted, std::size_t ef,
                         std::uint8_t const* allow, walk_context_t& w, std::int32_t* keys, float* distances,
                         std::size_t* computed) {
    metric_t metric(&ix, q, w);
    std::size_t scored = 0;
    // Steering by 8-bit codes (see "8-bit steering codes"): approximate scores in the walk, the
    // kept candidates re-scored exactly at the end.
    std::optional<sq8_query_t> approx;
    if constexpr (by_codes)
        approx.emplace(ix, reinterpret_cast<float const*>(q), w.sq8_weights);
    auto pass = [&](std::uint32_t slot) { return allow[slots_are_rows ? slot : ix.slot_row[slot]] != 0; };
    if (w.visited.empty())
        w.visited.assign((ix.n + 63) / 64, 0);
    auto& batch = w.batch;
    auto& hop = w.hop;

    // Upper levels: unfiltered greedy descent, as usearch's (they only choose where the bottom walk starts).
    std::uint32_t ep = std::uint32_t(ix.entry_slot);
    float ep_d = metric(ix.vector_at(ep));
    ++scored;
    for (std::size_t level = ix.max_level; level > 0; --level) {
        for (bool changed = true; changed;) {
            changed = false;
            auto view = ix.graph.neighbors(static_cast<slot_t>(ep), level);
            for (auto it = view.begin(); it != view.end(); ++it)
                prefetch_vector(ix, it.slot());
            for (auto it = view.begin(); it != view.end(); ++it) {
                float d = metric(ix.vector_at(it.slot()));
                ++scored;
                if (d < ep_d)
                    ep_d = d, ep = it.slot(), changed = true;
            }
        }
    }

    std::size_t limit = (std::max)(ef, wanted);
    std::size_t ahead = (std::max<std::size_t>)(2, prefetch_window_bytes / ix.vector_bytes);
    auto& next = w.next;
    auto& top = w.top;
    w.reset();
    w.visit(ep);
    next.push_back({ep_d, ep});
    float radius = std::numeric_limits<float>::infinity();
    if (pass(ep))
        radius = keep_nearest(top, limit, {ep_d, ep});

    // The neighbour loops below are branch-free: about one neighbour in 1/s passes, at random, so
    // a branch on it mispredicts often, and they test ~M0² neighbours per expansion. They write
    // into buffers sized for the worst case (M0 one-hop + M0² two-hop; one touched word per word
    // of the visited set), counting how many entries are real.
    std::size_t m0 = ix.graph.config().connectivity_base;
    batch.resize(m0 + m0 * m0);
    hop.resize(m0);
    auto& touched = w.touched;
    std::size_t n_touched = touched.size();
    touched.resize(w.visited.size() + 1);
    std::uint64_t* visited = w.visited.data();
    std::uint32_t* touched_at = touched.data();
    // Marks `slot` visited if `take`; returns whether it was not visited before.
    auto mark = [&](std::uint32_t slot, bool take_if_fresh, bool& fresh) {
        std::uint64_t& word = visited[slot >> 6];
        std::uint64_t bit = std::uint64_t(1) << (slot & 63), was = word;
        fresh = (was & bit) == 0;
        bool take = fresh & take_if_fresh;
        touched_at[n_touched] = slot >> 6;
        n_touched += take & (was == 0);
        word = was | (bit & (std::uint64_t(0) - std::uint64_t(take)));
        return take;
    };
    while (!next.empty()) {
        scored_t c = next.front();
        if (c.distance > radius)
            break;
        std::pop_heap(next.begin(), next.end(), nearer_first_t{});
        next.pop_back();
        // The next candidate is most likely the current front: start loading its neighbour list.
        if (!next.empty())
            prefetch_graph_node(ix.graph, next.front().slot);
        std::size_t n_batch = 0, n_hop = 0;
        std::uint32_t count;
        byte_t const* list = level0(ix, c.slot, count);
        for (std::uint32_t i = 0; i != count; ++i) {
            std::uint32_t s;
            std::memcpy(&s, list + 4 * std::size_t(i), 4);
            bool fresh;
            mark(s, true, fresh);
            bool p = pass(s);
            batch[n_batch] = s, n_batch += fresh & p;
            hop[n_hop] = s, n_hop += fresh & !p;
        }
        constexpr std::size_t hop_ahead = 8;
        for (std::size_t j = 0; j != n_hop && j != hop_ahead; ++j)
            prefetch_graph_node(ix.graph, hop[j]);
        for (std::size_t j = 0; j != n_hop; ++j) {
            if (j + hop_ahead < n_hop)
                prefetch_graph_node(ix.graph, hop[j + hop_ahead]);
            std::uint32_t count2;
            byte_t const* list2 = level0(ix, hop[j], count2);
            for (std::uint32_t i = 0; i != count2; ++i) {
                std::uint32_t s;
                std::memcpy(&s, list2 + 4 * std::size_t(i), 4);
                bool fresh;
                bool take = mark(s, pass(s), fresh);
                batch[n_batch] = s, n_batch += take;
            }
        }
        // Prefetched a window ahead, not all at once: more would overflow L1 and the fill buffers.
        auto prefetch = [&](std::uint32_t s) {
            if constexpr (by_codes)
                approx->prefetch(s);
            else
                prefetch_vector(ix, s);
        };
        for (std::size_t i = 0; i != n_batch && i != ahead; ++i)
            prefetch(batch[i]);
        for (std::size_t i = 0; i != n_batch; ++i) {
            std::uint32_t s = batch[i];
            if (i + ahead < n_batch)
                prefetch(batch[i + ahead]);
            float d;
            if constexpr (by_codes)
                d = (*approx)(s);
            else
                d = metric(ix.vector_at(s));
            ++scored;
            if (top.size() < limit || d < radius) {
                next.push_back({d, s});
                std::push_heap(next.begin(), next.end(), nearer_first_t{});
                radius = keep_nearest(top, limit, {d, s});
            }
        }
    }
    touched.resize(n_touched);
    if constexpr (by_codes) {
        for (scored_t& t : top)
            prefetch_vector(ix, t.slot);
        for (scored_t& t : top)
            t.distance = metric(ix.vector_at(t.slot));
        scored += top.size();
    }
    *computed += scored;
    return emit(ix, top, wanted, keys, distances);
}

/**
 * search(handle, queries, nq, wanted, ef, threads, filter | null, mode, outKeys Int32Array,
 *        outDistances Float32Array, outCounts Uint32Array) → vectors scored (a cost measure).
 * mode 0: usearch's walk (filtered: every neighbour steers); 1: exact scan of the passing rows;
 * 2: two-hop walk (needs a filter). Query i's results go to out[i * wanted ..], nearest first;
 * outCounts[i] says how many.
 */
napi_value js_search(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 11);
        index_t* ix = unwrap(env, argv[0]);
        typed_t qs = typed_arg(env, argv[1], "queries");
        std::size_t nq = count_arg(env, argv[2], "nq", 1u << 30);
        std::size_t wanted = count_arg(env, argv[3], "wanted", 1u << 30);
        std::size_t ef = count_arg(env, argv[4], "ef", 1u << 30);
        std::size_t threads = count_arg(env, argv[5], "threads", 1u << 16);
        std::uint8_t const* allow = nullptr;
        if (!is_nullish(env, argv[6])) {
            typed_t f = typed_arg(env, argv[6], "filter");
            if (f.type != napi_uint8_array || f.length != ix->n)
                throw js_error{"hnsw-filter: filter must be a Uint8Array with one byte per row"};
            allow = static_cast<std::uint8_t const*>(f.data);
        }
        std::size_t mode_arg = count_arg(env, argv[7], "mode", 2);
        mode_t mode = static_cast<mode_t>(mode_arg);
        if (mode == mode_t::two_hop && !allow)
            mode = mode_t::walk;
        typed_t ok = typed_arg(env, argv[8], "outKeys");
        typed_t od = typed_arg(env, argv[9], "outDistances");
        typed_t oc = typed_arg(env, argv[10], "outCounts");
        if (ix->binary ? qs.type != napi_uint8_array : qs.type != napi_float32_array)
            throw js_error{"hnsw-filter: queries must be a Float32Array (Uint8Array for binary vectors)"};
        std::size_t per_query = ix->binary ? ix->vector_bytes : ix->dim;
        if (qs.length != nq * per_query)
            throw js_error{"hnsw-filter: queries length does not match nq × dim"};
        if (ok.type != napi_int32_array || od.type != napi_float32_array || oc.type != napi_uint32_array ||
            ok.length < nq * wanted || od.length < nq * wanted || oc.length < nq)
            throw js_error{"hnsw-filter: output arrays are missing or too short"};
        auto counts = static_cast<std::uint32_t*>(oc.data);
        napi_value out;
        if (wanted == 0 || ix->n == 0) {
            std::memset(counts, 0, nq * 4);
            check(env, napi_create_double(env, 0, &out), "result");
            return out;
        }
        // Floats are read in place: a Float32Array's data is 4-byte aligned by construction.
        auto q0 = static_cast<byte_t const*>(qs.data);
        auto keys = static_cast<std::int32_t*>(ok.data);
        auto dist = static_cast<float*>(od.data);

        // The passing rows' slots, once for the whole batch (row order, so ties resolve as rows do).
        std::vector<std::uint32_t> slots;
        if (mode == mode_t::scan) {
            std::size_t n = ix->n;
            if (!allow) {
                slots.assign(ix->row_slot.begin(), ix->row_slot.end());
            } else {
                slots.reserve(n / 8);
                std::size_t r = 0;
                for (; r + 8 <= n; r += 8) {
                    std::uint64_t word;
                    std::memcpy(&word, allow + r, 8);
                    if (!word)
                        continue;
                    for (std::size_t j = 0; j != 8; ++j)
                        if (allow[r + j])
                            slots.push_back(ix->row_slot[r + j]);
                }
                for (; r != n; ++r)
                    if (allow[r])
                        slots.push_back(ix->row_slot[r]);
            }
        }

        if (mode == mode_t::two_hop && !ix->sq8 && steers_by_codes(*ix) && !std::getenv("STRATA_NO_SQ8_STEERING"))
            build_sq8(*ix); // before any search thread starts: they only read it
        std::size_t workers = (std::min)({threads == 0 ? ix->contexts : threads, ix->contexts, nq});
        workers = (std::max<std::size_t>)(1, workers);
        std::vector<std::size_t> computed(workers, 0);
        std::vector<std::string> errors(workers);
        auto run = [&](std::size_t worker, std::size_t i) {
            if (!errors[worker].empty())
                return;
            try {
                byte_t const* q = q0 + i * ix->vector_bytes;
                std::int32_t* k = keys + i * wanted;
                float* d = dist + i * wanted;
                walk_context_t& w = ix->walks[worker];
                std::size_t c = 0;
                switch (mode) {
                case mode_t::scan: c = scan_one(*ix, q, wanted, slots, w, k, d, &computed[worker]); break;
                case mode_t::two_hop:
                    if (ix->sq8)
                        c = ix->slots_are_rows ? walk_two_hop<true, true>(*ix, q, wanted, ef, allow, w, k, d, &computed[worker])
                                               : walk_two_hop<false, true>(*ix, q, wanted, ef, allow, w, k, d, &computed[worker]);
                    else
                        c = ix->slots_are_rows ? walk_two_hop<true, false>(*ix, q, wanted, ef, allow, w, k, d, &computed[worker])
                                               : walk_two_hop<false, false>(*ix, q, wanted, ef, allow, w, k, d, &computed[worker]);
                    break;
                default: c = walk_one(*ix, q, wanted, ef, allow, worker, w, k, d, &computed[worker]); break;
                }
                counts[i] = std::uint32_t(c);
            } catch (js_error const& e) {
                errors[worker] = e.message;
            } catch (...) {
                errors[worker] = "hnsw-filter: search failed";
            }
        };
        if (workers == 1) {
            for (std::size_t i = 0; i != nq; ++i)
                run(0, i);
        } else {
            executor_stl_t executor(workers);
            executor.fixed(nq, [&](std::size_t worker, std::size_t i) { run(worker, i); });
        }
        std::size_t total = 0;
        for (std::size_t w = 0; w != workers; ++w) {
            if (!errors[w].empty())
                throw js_error{errors[w]};
            total += computed[w];
        }
        check(env, napi_create_double(env, double(total), &out), "result");
        return out;
    });
}

STRATA_CLONES std::size_t count_nonzero(std::uint8_t const* p, std::size_t n) noexcept {
    std::size_t total = 0;
    for (std::size_t i = 0; i != n; ++i)
        total += p[i] != 0;
    return total;
}

/** countPassing(Uint8Array) → how many bytes are non-zero (a filter's passing rows). */
napi_value js_count_passing(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 1);
        typed_t f = typed_arg(env, argv[0], "filter");
        if (f.type != napi_uint8_array)
            throw js_error{"hnsw-filter: filter must be a Uint8Array"};
        napi_value out;
        check(env, napi_create_double(env, double(count_nonzero(static_cast<std::uint8_t const*>(f.data), f.length)), &out),
              "result");
        return out;
    });
}

/**
 * floatKernels(q Float32Array, b Float32Array) → for each kernel level this CPU runs, best first
 * (searches use the first): [name, l2sq f64, dot f64, dot f64, |b|² f64, l2sq f32, dot f32, |b|² f32,
 * then the same seven with the query as floats (no widened copy: what the builder calls)], the f64-
 * and f32-summed kernels on q and b. For tests: every level is checked on any CPU that has it.
 */
napi_value js_float_kernels(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 2);
        typed_t q = typed_arg(env, argv[0], "q"), b = typed_arg(env, argv[1], "b");
        if (q.type != napi_float32_array || b.type != napi_float32_array || q.length != b.length)
            throw js_error{"hnsw-filter: q and b must be Float32Arrays of one length"};
        auto qf = static_cast<float const*>(q.data), bf = static_cast<float const*>(b.data);
        std::size_t n = q.length;
        std::vector<double> q64(qf, qf + n);
        auto levels = float_kernel_levels();
        napi_value out;
        check(env, napi_create_array_with_length(env, levels.size(), &out), "result");
        for (std::size_t l = 0; l != levels.size(); ++l) {
            float_kernels_t const& k = *levels[l];
            double v[14];
            v[0] = k.l2sq_f64sum(q64.data(), bf, n);
            v[1] = k.dot_f64sum(q64.data(), bf, n);
            k.dot_norm_f64sum(q64.data(), bf, n, &v[2], &v[3]);
            v[4] = k.l2sq_f32sum(qf, q64.data(), bf, n);
            k.dot_norm_f32sum(qf, q64.data(), bf, n, &v[5], &v[6]);
            v[7] = k.l2sq_f64sum_fq(qf, bf, n);
            v[8] = k.dot_f64sum_fq(qf, bf, n);
            k.dot_norm_f64sum_fq(qf, bf, n, &v[9], &v[10]);
            v[11] = k.l2sq_f32sum(qf, nullptr, bf, n);
            k.dot_norm_f32sum(qf, nullptr, bf, n, &v[12], &v[13]);
            napi_value row, x;
            check(env, napi_create_array_with_length(env, 15, &row), "result");
            check(env, napi_create_string_utf8(env, k.name, NAPI_AUTO_LENGTH, &x), "result");
            check(env, napi_set_element(env, row, 0, x), "result");
            for (std::uint32_t i = 0; i != 14; ++i) {
                check(env, napi_create_double(env, v[i], &x), "result");
                check(env, napi_set_element(env, row, i + 1, x), "result");
            }
            check(env, napi_set_element(env, out, std::uint32_t(l), row), "result");
        }
        return out;
    });
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

// ---- half-precision build distances ----------------------------------------------------------
//
// Inserting a row scores thousands of stored rows at random, so a build waits on memory. The
// builder therefore keeps a half-precision (IEEE f16) copy of every row and scores the walk's
// candidates on that, half the bytes per row; the f32 rows stay, go into the file, and are what
// searches score. Only the graph's shape (which neighbours each row keeps) comes from the f16
// distances. Measured (2 cores, M 16, efConstruction 200): 50k × 768 cosine builds ~1.65–1.9×
// faster; 200k × 128 l2sq about as fast as with f32 (there the walk waits on the latency of each
// expanded node's first reads, not on bandwidth). The kernels widen f16 to f32 and sum with f32
// FMAs into four accumulators; see builder_t::half_distance for how the error is bounded.

/** Halves per f16 row: dim rounded up to 32 (zeros after), so kernels run whole blocks, no tails. */
constexpr std::size_t half_block = 32;
/** How many times its error bound an f16 distance must be to be used (builder_t::half_distance). */
constexpr double half_margin = 64;

/** f32 → f16, round to nearest even; beyond f16's range is ±inf (as F16C's conversion gives). */
inline std::uint16_t half_of(float f) noexcept {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    std::uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    if (a > 0x7f800000u)
        return std::uint16_t(sign | 0x7e00u); // NaN (the builder never stores one)
    if (a >= 0x477ff000u)                      // ≥ 65520 rounds to infinity
        return std::uint16_t(sign | 0x7c00u);
    if (a >= 0x38800000u) { // normal: re-bias the exponent, round off 13 bits
        std::uint32_t r = (a - 0x38000000u) >> 13, rest = a & 0x1fffu;
        r += rest > 0x1000u || (rest == 0x1000u && (r & 1u));
        return std::uint16_t(sign | r);
    }
    if (a < 0x33000000u) // below 2⁻²⁵: rounds to zero
        return std::uint16_t(sign);
    // Subnormal: the value in units of 2⁻²⁴, rounded.
    std::uint32_t shift = 126u - (a >> 23), m = (a & 0x7fffffu) | 0x800000u;
    std::uint32_t r = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    r += rest > half || (rest == half && (r & 1u));
    return std::uint16_t(sign | r);
}

/** f16 → f32, exact. */
inline float float_of(std::uint16_t h) noexcept {
    std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float v = float(m) * 0x1p-24f;
        return sign ? -v : v;
    }
    std::uint32_t x = sign | (e == 31 ? 0x7f800000u | (m << 13) : ((e + 112u) << 23) | (m << 13));
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}

void half_encode_portable(float const* x, std::uint16_t* h, std::size_t n) noexcept {
    for (std::size_t i = 0; i != n; ++i)
        h[i] = half_of(x[i]);
}

/** Σ (a − b)² over n halves (n a multiple of half_block), summed in f32 per lane. */
double half_l2sq_portable(std::uint16_t const* a, std::uint16_t const* b, std::size_t n) noexcept {
    float acc[8] = {};
    for (std::size_t i = 0; i < n; i += 8)
        for (std::size_t j = 0; j != 8; ++j) {
            float d = float_of(a[i + j]) - float_of(b[i + j]);
            acc[j] += d * d;
        }
    double s = 0;
    for (float v : acc)
        s += double(v);
    return s;
}

double half_dot_portable(std::uint16_t const* a, std::uint16_t const* b, std::size_t n) noexcept {
    float acc[8] = {};
    for (std::size_t i = 0; i < n; i += 8)
        for (std::size_t j = 0; j != 8; ++j)
            acc[j] += float_of(a[i + j]) * float_of(b[i + j]);
    double s = 0;
    for (float v : acc)
        s += double(v);
    return s;
}

#if STRATA_X86_VERSIONS
#define STRATA_AVX2_F16 __attribute__((target("avx2,fma,f16c")))
#define STRATA_AVX512_F16 __attribute__((target("avx512f,avx512vl,avx2,fma,f16c")))

STRATA_AVX2_F16 void half_encode_avx2(float const* x, std::uint16_t* h, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    half_encode_portable(x + i, h + i, n - i);
}
STRATA_AVX2_F16 inline __m256 half_load_avx2(std::uint16_t const* p) noexcept {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<__m128i const*>(p)));
}
STRATA_AVX2_F16 inline double half_reduce_avx2(__m256 a, __m256 b, __m256 c, __m256 d) noexcept {
    __m256 s = _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d));
    __m256d w = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(s)), _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)));
    __m128d v = _mm_add_pd(_mm256_castpd256_pd128(w), _mm256_extractf128_pd(w, 1));
    return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
}
STRATA_AVX2_F16 double half_l2sq_avx2(std::uint16_t const* a, std::uint16_t const* b, std::size_t n) noexcept {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (std::size_t i = 0; i < n; i += 32) {
        __m256 d0 = _mm256_sub_ps(half_load_avx2(a + i), half_load_avx2(b + i));
        __m256 d1 = _mm256_sub_ps(half_load_avx2(a + i + 8), half_load_avx2(b + i + 8));
        __m256 d2 = _mm256_sub_ps(half_load_avx2(a + i + 16), half_load_avx2(b + i + 16));
        __m256 d3 = _mm256_sub_ps(half_load_avx2(a + i + 24), half_load_avx2(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    return half_reduce_avx2(s0, s1, s2, s3);
}
STRATA_AVX2_F16 double half_dot_avx2(std::uint16_t const* a, std::uint16_t const* b, std::size_t n) noexcept {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (std::size_t i = 0; i < n; i += 32) {
        s0 = _mm256_fmadd_ps(half_load_avx2(a + i), half_load_avx2(b + i), s0);
        s1 = _mm256_fmadd_ps(half_load_avx2(a + i + 8), half_load_avx2(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(half_load_avx2(a + i + 16), half_load_avx2(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(half_load_avx2(a + i + 24), half_load_avx2(b + i + 24), s3);
    }
    return half_reduce_avx2(s0, s1, s2, s3);
}

STRATA_AVX512_F16 void half_encode_avx512(float const* x, std::uint16_t* h, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    half_encode_portable(x + i, h + i, n - i);
}
STRATA_AVX512_F16 inline __m512 half_load_avx512(std::uint16_t const* p) noexcept {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<__m256i const*>(p)));
}
STRATA_AVX512_F16 inline double half_reduce_avx512(__m512 a, __m512 b, __m512 c, __m512 d) noexcept {
    __m512 s = _mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d));
    __m512d w = _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(s)),
                              _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1))));
    return _mm512_reduce_add_pd(w);
}
STRATA_AVX512_F16 double half_l2sq_avx512(std::uint16_t const* a, std::uint16_t const* b, std::size_t n) noexcept {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 d0 = _mm512_sub_ps(half_load_avx512(a + i), half_load_avx512(b + i));
        __m512 d1 = _mm512_sub_ps(half_load_avx512(a + i + 16), half_load_avx512(b + i + 16));
        __m512 d2 = _mm512_sub_ps(half_load_avx512(a + i + 32), half_load_avx512(b + i + 32));
        __m512 d3 = _mm512_sub_ps(half_load_avx512(a + i + 48), half_load_avx512(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    if (i != n) { // one block of 32 left
        __m512 d0 = _mm512_sub_ps(half_load_avx512(a + i), half_load_avx512(b + i));
        __m512 d1 = _mm512_sub_ps(half_load_avx512(a + i + 16), half_load_avx512(b + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    return half_reduce_avx512(s0, s1, s2, s3);
}
STRATA_AVX512_F16 double half_dot_avx512(std::uint16_t const* a, std::uint16_t const* b, std::size_t n) noexcept {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    std::size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(half_load_avx512(a + i), half_load_avx512(b + i), s0);
        s1 = _mm512_fmadd_ps(half_load_avx512(a + i + 16), half_load_avx512(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(half_load_avx512(a + i + 32), half_load_avx512(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(half_load_avx512(a + i + 48), half_load_avx512(b + i + 48), s3);
    }
    if (i != n) {
        s0 = _mm512_fmadd_ps(half_load_avx512(a + i), half_load_avx512(b + i), s0);
        s1 = _mm512_fmadd_ps(half_load_avx512(a + i + 16), half_load_avx512(b + i + 16), s1);
    }
    return half_reduce_avx512(s0, s1, s2, s3);
}
#endif

/** One level's f16 build kernels: encode (any n), and l2sq / dot over whole blocks of 32 halves. */
struct half_kernels_t {
    char const* name;
    void (*encode)(float const* x, std::uint16_t* h, std::size_t n) noexcept;
    double (*l2sq)(std::uint16_t const* a, std::uint16_t const* b, std::size_t n) noexcept;
    double (*dot)(std::uint16_t const* a, std::uint16_t const* b, std::size_t n) noexcept;
};
constexpr half_kernels_t half_portable_kernels{"portable", half_encode_portable, half_l2sq_portable,
                                               half_dot_portable};
#if STRATA_X86_VERSIONS
constexpr half_kernels_t half_avx2_kernels{"avx2", half_encode_avx2, half_l2sq_avx2, half_dot_avx2};
constexpr half_kernels_t half_avx512_kernels{"avx512", half_encode_avx512, half_l2sq_avx512, half_dot_avx512};
#endif

/** The f16 levels this CPU runs, best first (the first is the one builds use). */
std::vector<half_kernels_t const*> half_kernel_levels() {
    std::vector<half_kernels_t const*> out;
#if STRATA_X86_VERSIONS
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        out.push_back(&half_avx512_kernels);
    if (avx2)
        out.push_back(&half_avx2_kernels);
#endif
    out.push_back(&half_portable_kernels);
    return out;
}

// ---- 8-bit build distances ---------------------------------------------------------------------
//
// Even on its f16 copy a build waits on memory: 1.5 KB per 768-d row scored, at random. From
// `byte_min_dim` dimensions up the builder shapes the graph on 8-bit codes instead (a quarter of
// the f32 bytes): each row (l2sq: minus `centre`) scaled by its own largest |value| to [−127, 127]
// and rounded. Dot products of two code rows are exact integer sums (VNNI's vpdpbusd where the CPU
// has it); each row's scale, Σq and Σq² turn them into the metric's distance. Measured (2 cores,
// M 16, efConstruction 200, against the f16 build, interleaved): 50k × 768 cosine 2.0× faster,
// 200k × 128 l2sq 1.26× faster, recall@10 the same within ±0.003.
//
// The error is bounded per pair as f16's is (builder_t::half_distance, the same triangle bounds on
// each row's measured rounding error), with a smaller margin: 8 bits leave each row a relative
// error of ~0.4–1 % (measured on the clustered sets and the 384-d real embeddings), so f16's margin
// of 64 would reject nearly every pair. With `byte_margin` (4) a distance is used when it is at
// least 4 times its worst-case error; that worst case needs every rounding aligned against the
// distance, while the roundings are independent of the other row, so the typical error is about
// √dim times smaller (~1 % of the distance at 768-d), below where neighbour choices change (recall
// above). Closer pairs, e.g. near-duplicates or rows whose spread 8 bits cannot see beside a large
// common value, are recomputed in f32; a call that recomputed more than a quarter of its distances
// switches the rest of the build to f16, whose copies are then made for every row so far. Below
// `byte_min_dim` rows are at most 256 f32 bytes, the walk waits on latency rather than bytes and
// the averaging above is weaker, so builds start on f16 there.

/** Bytes per 8-bit row: dim rounded up to 64 (zeros after), so kernels run whole 64-byte blocks. */
constexpr std::size_t byte_block = 64;
/** Fewest dimensions a build scores on 8-bit codes. */
constexpr std::size_t byte_min_dim = 64;
/** How many times its worst-case error bound a distance on codes must be to be used. */
constexpr double byte_margin = 4;

/** Σ a·b over n codes (a multiple of byte_block); b_sum is Σ b, which the VNNI kernel needs. */
std::int32_t byte_dot_portable(std::int8_t const* a, std::int8_t const* b, std::size_t n, std::int32_t) noexcept {
    std::int32_t s = 0;
    for (std::size_t i = 0; i != n; ++i)
        s += std::int32_t(a[i]) * std::int32_t(b[i]);
    return s;
}

#if STRATA_X86_VERSIONS
#define STRATA_AVX2_BYTES __attribute__((target("avx2")))
#define STRATA_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni,avx2")))

STRATA_AVX2_BYTES std::int32_t byte_dot_avx2(std::int8_t const* a, std::int8_t const* b, std::size_t n,
                                             std::int32_t) noexcept {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    for (std::size_t i = 0; i < n; i += 32) {
        __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<__m128i const*>(a + i)));
        __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<__m128i const*>(b + i)));
        __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<__m128i const*>(a + i + 16)));
        __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<__m128i const*>(b + i + 16)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, b0));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(a1, b1));
    }
    __m256i s = _mm256_add_epi32(s0, s1);
    __m128i v = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
    return _mm_cvtsi128_si32(v);
}

// vpdpbusd multiplies unsigned by signed bytes: a's codes flipped to a + 128 give Σ a·b + 128 Σ b.
STRATA_AVX512_VNNI std::int32_t byte_dot_vnni(std::int8_t const* a, std::int8_t const* b, std::size_t n,
                                              std::int32_t b_sum) noexcept {
    __m512i const flip = _mm512_set1_epi8(char(0x80));
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    std::size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(_mm512_loadu_si512(a + i), flip), _mm512_loadu_si512(b + i));
        s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(_mm512_loadu_si512(a + i + 64), flip),
                                 _mm512_loadu_si512(b + i + 64));
    }
    if (i != n)
        s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(_mm512_loadu_si512(a + i), flip), _mm512_loadu_si512(b + i));
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1)) - 128 * b_sum;
}
#endif

struct byte_kernels_t {
    char const* name;
    std::int32_t (*dot)(std::int8_t const* a, std::int8_t const* b, std::size_t n, std::int32_t b_sum) noexcept;
};
constexpr byte_kernels_t byte_portable_kernels{"portable", byte_dot_portable};
#if STRATA_X86_VERSIONS
constexpr byte_kernels_t byte_avx2_kernels{"avx2", byte_dot_avx2};
constexpr byte_kernels_t byte_vnni_kernels{"avx512vnni", byte_dot_vnni};
#endif

/** The 8-bit levels this CPU runs, best first (the first is the one builds use). */
std::vector<byte_kernels_t const*> byte_kernel_levels() {
    std::vector<byte_kernels_t const*> out;
#if STRATA_X86_VERSIONS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni"))
        out.push_back(&byte_vnni_kernels);
    if (__builtin_cpu_supports("avx2"))
        out.push_back(&byte_avx2_kernels);
#endif
    out.push_back(&byte_portable_kernels);
    return out;
}

/**
 * 1 − cosine from a dot product and the two rows' 1/|row| (0 for a zero row: two zero rows are at
 * 0, a zero and a non-zero row at 1, as usearch has it).
 */
inline double cosine_distance(double ab, double ia, double ib) noexcept {
    return ia == 0 || ib == 0 ? (ia == ib ? 0.0 : 1.0) : (std::max)(0.0, 1 - ab * ia * ib);
}

/** One thread's distance counts during an add call (own cache line: threads bump them per distance). */
struct alignas(64) build_counts_t {
    std::uint64_t distances = 0, recomputed = 0;
};

/**
 * A float graph being built: usearch's own graph class (`index_gt`, as `index_dense_gt` holds it,
 * configured as the binding configures that) with `float_distance` above as its metric and the
 * neighbours' vectors prefetched as the walk queues them, which `index_dense_gt::add` cannot pass.
 * The rows live here, in key order, in one buffer; `slot_row` maps the graph's slots to them. The
 * file is then written in the dense layout `index_dense_gt::save` writes (see write_dense), which
 * both the binding and `attach` read. Cosine keeps every row's |v|², computed once. The graph is
 * shaped with distances on 8-bit codes of the rows (byte_distance, from byte_min_dim dimensions) or
 * an f16 copy (half_distance) where those are within their error bounds, f32 elsewhere; the file
 * holds the f32 rows, and searches score those.
 */
struct builder_t {
    kind_t kind = kind_t::l2sq;
    metric_kind_t metric_kind = metric_kind_t::l2sq_k;
    float_kernels_t const* kernels = &portable_kernels;
    std::size_t dim = 0;
    std::size_t capacity = 0;
    std::size_t threads = 1;
    std::size_t expansion = 0;
    std::size_t added = 0;
    float* rows = nullptr;     // capacity × dim, 64-byte aligned
    std::uintptr_t rows_begin = 0, rows_end = 0;
    std::vector<double> norms; // cosine: |row|², as a search computes its query's
    std::vector<std::uint32_t> slot_row;
    std::unique_ptr<graph_t> graph;
    std::string broken;        // why the graph is unusable (an add failed half way)

    // The f16 copy the build scores on while `half` holds (see "half-precision build distances"
    // and half_distance); `half` only changes between add calls, never while threads run.
    half_kernels_t const* half_kernels = &half_portable_kernels;
    bool half = true;
    std::string half_off;              // why the build went to f32 distances
    std::uint16_t* halves = nullptr;   // capacity × half_stride, 64-byte aligned, zero-padded
    std::size_t half_stride = 0;
    std::vector<float> centre;         // l2sq: subtracted before rounding (see half_distance)
    std::vector<float> half_error;     // l2sq: |row − centre − f16|; ip, cos: that over |row|
    std::vector<float> half_inv_norm;  // ip, cos: 1 / |f16 row|, 0 for a zero row
    double half_dot_floor = 0;         // ip, cos: below this the f32 sums' rounding could rank
    std::vector<build_counts_t> counts; // per thread, for the add call under way

    // The 8-bit codes the build scores on while `bytes8` holds (see "8-bit build distances"); the
    // f16 copies above are only made once it no longer does. Both change only between add calls.
    byte_kernels_t const* byte_kernels = &byte_portable_kernels;
    bool bytes8 = false;
    std::string bytes_off;              // why the build went to f16 distances
    std::int8_t* codes = nullptr;       // capacity × code_stride, 64-byte aligned, zero-padded
    std::size_t code_stride = 0;
    std::vector<float> code_scale;      // largest |value| / 127 (l2sq: of row − centre)
    std::vector<std::int32_t> code_sum; // Σ q
    std::vector<float> code_norm;       // l2sq: scale² Σ q²; ip, cos: 1 / √Σ q² (0 for a zero row)
    std::vector<float> code_error;      // l2sq: |row − centre − code|; ip, cos: that over |row|
    // Over the whole build: distances scored on codes or f16, and how many of those went to f32.
    std::uint64_t approx_distances = 0, approx_recomputed = 0;

    builder_t() = default;
    builder_t(builder_t const&) = delete;
    builder_t& operator=(builder_t const&) = delete;
    ~builder_t() {
        std::free(rows);
        std::free(halves);
        std::free(codes);
    }

    /** Drops the 8-bit codes and what goes with them (the build has left that tier for good). */
    void free_codes() noexcept {
        std::free(codes);
        codes = nullptr, code_stride = 0;
        code_scale = {}, code_sum = {}, code_norm = {}, code_error = {};
    }

    std::size_t bytes() const noexcept {
        return capacity * dim * sizeof(float) + capacity * half_stride * sizeof(std::uint16_t) +
               capacity * code_stride;
    }
    /**
     * The slot of each row, when slot_row is a permutation of 0 .. size-1 (always, unless an add
     * failed half way); nullopt otherwise.
     */
    std::optional<std::vector<std::uint32_t>> row_slots() const {
        std::size_t size = graph->size();
        if (slot_row.size() < size)
            return std::nullopt;
        std::vector<std::uint32_t> row_slot(size, UINT32_MAX);
        for (std::size_t s = 0; s != size; ++s) {
            std::uint32_t r = slot_row[s];
            if (r >= size || row_slot[r] != UINT32_MAX)
                return std::nullopt;
            row_slot[r] = std::uint32_t(s);
        }
        return row_slot;
    }
    float const* row_of_slot(std::size_t slot) const noexcept { return rows + std::size_t(slot_row[slot]) * dim; }
    /** The row a vector pointer points at, if it is one of ours (every vector the graph holds is). */
    bool row_at(byte_t const* v, std::size_t* row) const noexcept {
        auto at = reinterpret_cast<std::uintptr_t>(v);
        if (at < rows_begin || at >= rows_end || (at - rows_begin) % (dim * sizeof(float)) != 0)
            return false;
        *row = (at - rows_begin) / (dim * sizeof(float));
        return true;
    }

    /** a against b, both stored rows (the row being added, or a member), with the f32 kernels. */
    float distance(float const* a, float const* b) const noexcept {
        double norm_sq = 0;
        if (kind == kind_t::cos) {
            std::size_t row;
            // The fallback only guards the assumption that every vector is one of ours.
            norm_sq = row_at(reinterpret_cast<byte_t const*>(a), &row) ? norms[row] : kernels->dot_f64sum_fq(a, a, dim);
        }
        return float_distance(kind, *kernels, float_query_t(a, norm_sq), b, dim);
    }

    /**
     * Rows a and b on their f16 copies: true, with the distance in `out`, when it is provably close
     * to the f32 one; false when the caller must compute that instead.
     *
     * Why this bound, and not a range check alone: f16 has an 11-bit significand (a value within
     * 2⁻¹¹ relative while |x| is in [2⁻¹⁴, 65504]), subnormals then zero below that (within 2⁻²⁵
     * absolute), infinity above. Whether that is fine depends on the data's scale, not only on its
     * range: rows of tiny values lose their precision to underflow, and l2sq rows far from the
     * origin compared with their spread (1000 ± 0.1) keep too few bits of the spread. So the rounding
     * error each row actually got is measured when it is converted (encode_halves, exactly, in f64):
     *   l2sq: ε = |x − c − f16(x − c)|, where c (`centre`, the first add call's mean) is subtracted
     *         first: translation leaves l2 distances as they are and takes an offset out of play.
     *         Triangle inequality: |√d₁₆ − √d| ≤ ε_a + ε_b (the f32 sums of d₁₆'s non-negative terms
     *         add ≈ 2⁻²⁴ · n/32 relative, negligible).
     *   cos:  ρ = |x − f16(x)| / |x|; the normalised rows move by at most 2ρ, so the chord √(2d)
     *         moves by at most 2(ρ_a + ρ_b); the dot's f32 sums add at most γ|a||b|, γ = (n/8 + 3)
     *         · 2⁻²⁴, to d.
     *   ip:   its dot's error relative to |a||b| is cos's; the same test is applied (on the angle).
     * An f16 distance is used only when it is at least `half_margin` (64) times its error bound (√d
     * or the chord; d ≥ 2·64·γ), i.e. within 2/64 ≈ 3% of the f32 distance at worst (typically
     * about √dim times less: the roundings are independent). Pairs closer than that, whose order
     * matters most for the neighbour lists, are recomputed with the f32 kernels. Values that round
     * to infinity switch the whole build to f32 before their rows are added, and so does a call
     * that had to recompute more than a quarter of its distances (f16 not paying for itself).
     */
    bool half_distance(std::size_t a, std::size_t b, float* out) const noexcept {
        std::uint16_t const* ha = halves + a * half_stride;
        std::uint16_t const* hb = halves + b * half_stride;
        double bound = half_margin * (double(half_error[a]) + double(half_error[b]));
        if (kind == kind_t::l2sq) {
            double d = half_kernels->l2sq(ha, hb, half_stride);
            *out = float(d);
            return d >= bound * bound;
        }
        double ab = half_kernels->dot(ha, hb, half_stride);
        double cos_d = cosine_distance(ab, half_inv_norm[a], half_inv_norm[b]);
        *out = kind == kind_t::cos ? float(cos_d) : 1.0f - float(ab);
        return 2 * cos_d >= 4 * bound * bound && cos_d >= half_dot_floor;
    }

    /**
     * Rows a and b on their 8-bit codes: true, with the distance in `out`, when it is at least
     * byte_margin times its error bound (see "8-bit build distances"; the bounds are
     * half_distance's, on code_error); false when the caller must compute it in f32.
     */
    bool byte_distance(std::size_t a, std::size_t b, float* out) const noexcept {
        double ab = byte_kernels->dot(codes + a * code_stride, codes + b * code_stride, code_stride, code_sum[b]);
        double sa = code_scale[a], sb = code_scale[b];
        double bound = byte_margin * (double(code_error[a]) + double(code_error[b]));
        if (kind == kind_t::l2sq) {
            double d = (std::max)(0.0, double(code_norm[a]) + double(code_norm[b]) - 2 * sa * sb * ab);
            *out = float(d);
            return d >= bound * bound;
        }
        double cos_d = cosine_distance(ab, code_norm[a], code_norm[b]);
        *out = kind == kind_t::cos ? float(cos_d) : float(1 - sa * sb * ab);
        return 2 * cos_d >= 4 * bound * bound;
    }

    /** Rows a and b as the build scores them: on codes or f16 where their bounds allow, else f32. */
    float row_distance(std::size_t a, std::size_t b, build_counts_t& c) const noexcept {
        if (bytes8 || half) {
            ++c.distances;
            float d;
            if (bytes8 ? byte_distance(a, b, &d) : half_distance(a, b, &d))
                return d;
            ++c.recomputed;
        }
        return distance(rows + a * dim, rows + b * dim);
    }
};

/** The forms index_gt calls the metric in while adding: the new row's bytes or members, pairwise. */
struct build_metric_t {
    builder_t const* bl;
    build_counts_t* counts; // this thread's
    static float const* f(byte_t const* v) noexcept { return reinterpret_cast<float const*>(v); }
    std::size_t row(member_cref_t m) const noexcept { return bl->slot_row[get_slot(m)]; }
    std::size_t row(member_citerator_t m) const noexcept { return bl->slot_row[get_slot(m)]; }
    float rows(std::size_t a, std::size_t b) const noexcept { return bl->row_distance(a, b, *counts); }
    float operator()(byte_t const* a, byte_t const* b) const noexcept {
        std::size_t ra, rb;
        return bl->row_at(a, &ra) && bl->row_at(b, &rb) ? rows(ra, rb) : bl->distance(f(a), f(b));
    }
    float operator()(byte_t const* a, member_cref_t b) const noexcept {
        std::size_t ra;
        return bl->row_at(a, &ra) ? rows(ra, row(b)) : bl->distance(f(a), bl->row_of_slot(get_slot(b)));
    }
    float operator()(member_cref_t a, member_cref_t b) const noexcept { return rows(row(a), row(b)); }
    float operator()(byte_t const* a, member_citerator_t b) const noexcept {
        std::size_t ra;
        return bl->row_at(a, &ra) ? rows(ra, row(b)) : bl->distance(f(a), bl->row_of_slot(get_slot(b)));
    }
    float operator()(member_citerator_t a, member_citerator_t b) const noexcept { return rows(row(a), row(b)); }
};

/**
 * Starts loading the rows (their codes or f16 copies, while the build scores those) the walk will
 * score, and their neighbour lists (see prefetch_t).
 */
struct build_prefetch_t {
    builder_t const* bl;
    template <typename iterator_at> void operator()(iterator_at begin, iterator_at end) const noexcept {
        if (bl->bytes8) {
            for (; begin != end; ++begin) {
                std::size_t slot = get_slot(begin);
                prefetch_bytes(bl->codes + std::size_t(bl->slot_row[slot]) * bl->code_stride, bl->code_stride);
                prefetch_graph_node(*bl->graph, slot);
            }
            return;
        }
        bool half = bl->half;
        std::size_t bytes = half ? bl->half_stride * sizeof(std::uint16_t) : bl->dim * sizeof(float);
        for (; begin != end; ++begin) {
            std::size_t slot = get_slot(begin);
            std::size_t row = bl->slot_row[slot];
            prefetch_bytes(half ? static_cast<void const*>(bl->halves + row * bl->half_stride)
                                : static_cast<void const*>(bl->rows + row * bl->dim),
                           bytes);
            prefetch_graph_node(*bl->graph, slot);
        }
    }
};

/**
 * `index_gt::save_to_stream`'s output for the graph renumbered so that slot s holds row s: the
 * header (entry slot mapped), each node's level, then the nodes in row order with every neighbour
 * slot mapped. Threads add rows in whatever order they get to them, so the built graph's slots are
 * a permutation of the rows; in row order a filtered walk tests `allow[slot]` directly instead of
 * through slot → row, a random read per neighbour it looks at (see index_t::slots_are_rows).
 * Node bytes: key (u64), level (i16), then per level a u32 count and that level's slot capacity
 * of u32 slots (connectivity_base at level 0, connectivity above), unaligned.
 */
template <typename output_at>
serialization_result_t write_graph_by_row(builder_t const& bl, std::vector<std::uint32_t> const& row_slot,
                                          output_at& out) {
    serialization_result_t result;
    graph_t const& g = *bl.graph;
    std::size_t size = g.size();
    // index_gt has no accessor for its entry slot: take its own header, the first thing it writes.
    index_serialized_header_t header;
    bool got = false;
    serialization_result_t stopped = g.save_to_stream([&](void const* data, std::size_t length) {
        if (!got && length == sizeof(header))
            std::memcpy(&header, data, sizeof(header)), got = true;
        return false;
    });
    stopped.error.release(); // the stop we asked for (usearch raises an error left unreleased)
    if (!got || std::size_t(header.size) != size)
        return result.failed("cannot read the graph's header");
    if (size)
        header.entry_slot = bl.slot_row[std::size_t(header.entry_slot)];
    if (!out(&header, sizeof(header)))
        return result.failed("write failed");
    for (std::size_t r = 0; r != size; ++r) {
        auto level = static_cast<std::int16_t>(g.level_of(static_cast<slot_t>(row_slot[r])));
        if (!out(&level, sizeof(level)))
            return result.failed("write failed");
    }

    std::size_t base_bytes = g.neighbors_base_bytes(), upper_bytes = g.neighbors_bytes();
    std::vector<byte_t> node;
    for (std::size_t r = 0; r != size; ++r) {
        std::size_t levels = g.level_of(static_cast<slot_t>(row_slot[r]));
        std::size_t length = node_head_bytes + base_bytes + levels * upper_bytes;
        byte_t const* bytes = g.at(static_cast<slot_t>(row_slot[r])).key.ptr();
        node.assign(bytes, bytes + length);
        for (std::size_t l = 0; l <= levels; ++l) {
            byte_t* list = node.data() + node_head_bytes + (l ? base_bytes + (l - 1) * upper_bytes : 0);
            std::uint32_t count;
            std::memcpy(&count, list, sizeof(count));
            for (std::uint32_t i = 0; i != count; ++i) {
                std::uint32_t slot;
                std::memcpy(&slot, list + 4 + 4 * std::size_t(i), 4);
                slot = bl.slot_row[slot];
                std::memcpy(list + 4 + 4 * std::size_t(i), &slot, 4);
            }
        }
        if (!out(node.data(), length))
            return result.failed("write failed");
    }
    return result;
}

/**
 * Writes the graph in `index_dense_gt::save`'s layout through `out(data, length) → bool`: u32 rows,
 * u32 bytes per vector | the vectors in slot order | the 64-byte head (magic, usearch version,
 * metric, f32, u64 keys, u32 slots, counts, dimensions) | `index_gt::save_to_stream`.
 */
template <typename output_at> serialization_result_t write_dense(builder_t const& bl, output_at&& out) {
    serialization_result_t result;
    std::size_t size = bl.graph->size();
    std::uint32_t dims[2] = {static_cast<std::uint32_t>(size), static_cast<std::uint32_t>(bl.dim * sizeof(float))};
    if (!out(dims, sizeof(dims)))
        return result.failed("write failed");
    // Renumbered so that slot = row (see write_graph_by_row); the vectors go in that order too.
    std::optional<std::vector<std::uint32_t>> row_slot = bl.row_slots();
    bool by_row = row_slot.has_value();
    for (std::size_t s = 0; s != size; ++s)
        if (!out(by_row ? bl.rows + s * bl.dim : bl.row_of_slot(s), bl.dim * sizeof(float)))
            return result.failed("write failed");
    index_dense_head_buffer_t buffer;
    std::memset(buffer, 0, sizeof(buffer));
    index_dense_head_t head{buffer};
    std::memcpy(buffer, default_magic(), std::strlen(default_magic()));
    using version_t = index_dense_head_t::version_t;
    head.version_major = static_cast<version_t>(USEARCH_VERSION_MAJOR);
    head.version_minor = static_cast<version_t>(USEARCH_VERSION_MINOR);
    head.version_patch = static_cast<version_t>(USEARCH_VERSION_PATCH);
    head.kind_metric = bl.metric_kind;
    head.kind_scalar = scalar_kind_t::f32_k;
    head.kind_key = scalar_kind<key_t>();
    head.kind_compressed_slot = scalar_kind<slot_t>();
    head.count_present = size;
    head.count_deleted = 0;
    head.dimensions = bl.dim;
    head.multi = false;
    if (!out(&buffer, sizeof(buffer)))
        return result.failed("write failed");
    if (by_row)
        return write_graph_by_row(bl, *row_slot, out);
    return bl.graph->save_to_stream(std::forward<output_at>(out));
}

std::size_t dense_length(builder_t const& bl) {
    return 8 + bl.graph->size() * bl.dim * sizeof(float) + sizeof(index_dense_head_buffer_t) +
           bl.graph->serialized_length();
}

void finalize_builder(napi_env, void* data, void*) { delete static_cast<builder_t*>(data); }

builder_t* unwrap_builder(napi_env env, napi_value handle) {
    void* p = nullptr;
    if (!has_tag(env, handle, builder_tag))
        throw js_error{"hnsw-filter: not a builder handle"};
    if (napi_unwrap(env, handle, &p) != napi_ok || p == nullptr)
        throw js_error{"hnsw-filter: builder is freed or finished"};
    auto bl = static_cast<builder_t*>(p);
    if (!bl->broken.empty())
        throw js_error{"hnsw-filter: builder failed earlier: " + bl->broken};
    return bl;
}

std::string string_arg(napi_env env, napi_value v, char const* what) {
    std::size_t len;
    if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
        throw js_error{std::string("hnsw-filter: ") + what + " must be a string"};
    std::string out(len, '\0');
    check(env, napi_get_value_string_utf8(env, v, &out[0], len + 1, &len), what);
    return out;
}

/** Releases the builder now (the handle's wrap is removed, so later calls say it is freed). */
void release_builder(napi_env env, napi_value handle) {
    void* p = nullptr;
    if (napi_remove_wrap(env, handle, &p) == napi_ok && p != nullptr) {
        auto bl = static_cast<builder_t*>(p);
        int64_t adjusted;
        napi_adjust_external_memory(env, -int64_t(bl->bytes()), &adjusted);
        delete bl;
    }
}

/** `bytes`, rounded up to whole lines plus one, 64-byte aligned; freed with std::free; throws when out of memory. */
template <typename T> T* alloc_lines(std::size_t bytes) {
    void* p = std::aligned_alloc(64, ((bytes + 63) / 64) * 64 + 64);
    if (!p)
        throw std::bad_alloc();
    return static_cast<T*>(p);
}

/** The f16 copies' buffers, for the whole capacity. */
void allocate_halves(builder_t& bl) {
    bl.half_stride = (bl.dim + half_block - 1) / half_block * half_block;
    std::size_t half_bytes = bl.capacity * bl.half_stride * sizeof(std::uint16_t);
    bl.halves = alloc_lines<std::uint16_t>(half_bytes);
    bl.half_error.resize(bl.capacity);
    if (bl.kind != kind_t::l2sq)
        bl.half_inv_norm.resize(bl.capacity);
    bl.half_dot_floor = 2 * half_margin * (double(bl.half_stride / 8) + 3) * 0x1p-24;
}

/**
 * buildBegin(dim, metric "l2sq" | "ip" | "cos", M, efConstruction, capacity, threads, distances?)
 * → builder. Float vectors (f32 storage) only; `capacity` rows at most, added by `threads` threads.
 * `distances` is what the graph is shaped on: "auto" (default: 8-bit codes from byte_min_dim
 * dimensions, else f16, each falling back as their sections say), "f16" (f16, then f32) or "f32".
 */
napi_value js_build_begin(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 7);
        std::size_t dim = count_arg(env, argv[0], "dim", 1u << 16);
        std::string metric = string_arg(env, argv[1], "metric");
        std::size_t m = count_arg(env, argv[2], "M", 2048);
        std::size_t ef = count_arg(env, argv[3], "efConstruction", 1u << 20);
        std::size_t capacity = count_arg(env, argv[4], "capacity", std::size_t(UINT32_MAX) - 1);
        std::size_t threads = count_arg(env, argv[5], "threads", 1024);
        if (dim == 0)
            throw js_error{"hnsw-filter: dim must be positive"};
        if (m < 2)
            throw js_error{"hnsw-filter: M must be at least 2"};
        if (ef == 0 || threads == 0)
            throw js_error{"hnsw-filter: efConstruction and threads must be positive"};
        std::string distances = is_nullish(env, argv[6]) ? "auto" : string_arg(env, argv[6], "distances");
        if (distances != "auto" && distances != "f16" && distances != "f32")
            throw js_error{"hnsw-filter: distances must be auto, f16 or f32, got " + distances};
        auto bl = std::make_unique<builder_t>();
        if (metric == "l2sq")
            bl->kind = kind_t::l2sq, bl->metric_kind = metric_kind_t::l2sq_k;
        else if (metric == "ip")
            bl->kind = kind_t::ip, bl->metric_kind = metric_kind_t::ip_k;
        else if (metric == "cos")
            bl->kind = kind_t::cos, bl->metric_kind = metric_kind_t::cos_k;
        else
            throw js_error{"hnsw-filter: metric must be l2sq, ip or cos, got " + metric};
        bl->kernels = float_kernel_levels().front();
        bl->half_kernels = half_kernel_levels().front();
        bl->dim = dim;
        bl->capacity = capacity;
        bl->threads = threads;
        std::size_t bytes = capacity * dim * sizeof(float);
        if (capacity != 0 && bytes / capacity / sizeof(float) != dim)
            throw js_error{"hnsw-filter: capacity × dim is too large"};
        bl->rows = alloc_lines<float>(bytes);
        bl->rows_begin = reinterpret_cast<std::uintptr_t>(bl->rows);
        bl->rows_end = bl->rows_begin + bytes;
        if (bl->kind == kind_t::cos)
            bl->norms.resize(capacity);
        bl->counts.resize(threads);
        bl->half = distances != "f32";
        if (distances == "auto" && dim >= byte_min_dim) {
            bl->bytes8 = true;
            bl->byte_kernels = byte_kernel_levels().front();
            bl->code_stride = (dim + byte_block - 1) / byte_block * byte_block;
            bl->codes = alloc_lines<std::int8_t>(capacity * bl->code_stride);
            bl->code_scale.resize(capacity);
            bl->code_sum.resize(capacity);
            bl->code_norm.resize(capacity);
            bl->code_error.resize(capacity);
        } else if (bl->half) {
            allocate_halves(*bl);
        }

        bl->expansion = ef;
        bl->slot_row.resize(capacity);
        // As the binding's index_dense_gt configures its graph: base level 2M.
        index_config_t config(m);
        if (unum::usearch::error_t e = config.validate())
            throw js_error{std::string("hnsw-filter: ") + e.release()};
        bl->graph = std::make_unique<graph_t>(config);
        if (!bl->graph->try_reserve(index_limits_t((std::max<std::size_t>)(capacity, 1), threads)))
            throw std::bad_alloc();

        napi_value obj;
        check(env, napi_create_object(env, &obj), "handle");
        check(env, napi_type_tag_object(env, obj, &builder_tag), "tag");
        check(env, napi_wrap(env, obj, bl.get(), finalize_builder, nullptr, nullptr), "wrap");
        builder_t* raw = bl.release();
        int64_t adjusted;
        napi_adjust_external_memory(env, int64_t(raw->bytes()), &adjusted);
        return obj;
    });
}

/** Adds rows first .. first + count - 1 (already in bl.rows) with up to bl.threads threads. */
void add_rows(builder_t& bl, std::size_t first, std::size_t count) {
    std::size_t workers = (std::min)(bl.threads, count);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::vector<std::string> errors(workers);
    auto work = [&](std::size_t thread) {
        try {
            while (!failed.load(std::memory_order_relaxed)) {
                std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
                if (i >= count)
                    return;
                std::size_t row = first + i;
                index_update_config_t config;
                config.thread = thread;
                config.expansion = bl.expansion;
                auto on_success = [&](graph_t::member_ref_t member) {
                    bl.slot_row[get_slot(member)] = static_cast<std::uint32_t>(row);
                };
                auto r = bl.graph->add(key_t(row), reinterpret_cast<byte_t const*>(bl.rows + row * bl.dim),
                                       build_metric_t{&bl, &bl.counts[thread]}, config, on_success,
                                       build_prefetch_t{&bl});
                if (!r) {
                    errors[thread] = r.error.release();
                    failed = true;
                }
            }
        } catch (std::bad_alloc const&) {
            errors[thread] = "out of memory";
            failed = true;
        } catch (...) {
            errors[thread] = "insertion failed";
            failed = true;
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(workers);
    for (std::size_t t = 1; t < workers; ++t) {
        try {
            pool.emplace_back(work, t);
        } catch (...) {
            break; // the threads that did start, and this one, share the rows
        }
    }
    work(0);
    for (auto& t : pool)
        t.join();
    for (auto const& e : errors)
        if (!e.empty()) {
            bl.broken = e;
            throw js_error{"hnsw-filter: add failed: " + e};
        }
}

/**
 * Converts rows first .. first + count − 1 (already in bl.rows) to f16 and measures the rounding
 * each got (see builder_t::half_distance). False, leaving the rest unconverted, at the first value
 * that rounds to infinity.
 */
bool encode_halves(builder_t& bl, std::size_t first, std::size_t count) {
    std::size_t dim = bl.dim;
    bool l2 = bl.kind == kind_t::l2sq;
    std::vector<float> shifted(l2 ? dim : 0);
    for (std::size_t r = first; r != first + count; ++r) {
        float const* v = bl.rows + r * dim;
        std::uint16_t* h = bl.halves + r * bl.half_stride;
        if (l2)
            for (std::size_t i = 0; i != dim; ++i)
                shifted[i] = v[i] - bl.centre[i];
        bl.half_kernels->encode(l2 ? shifted.data() : v, h, dim);
        std::fill(h + dim, h + bl.half_stride, std::uint16_t(0));
        double err = 0, xx = 0, hh = 0;
        for (std::size_t i = 0; i != dim; ++i) {
            double x = l2 ? double(v[i]) - double(bl.centre[i]) : double(v[i]), y = double(float_of(h[i]));
            if (std::isinf(y))
                return false;
            err += (x - y) * (x - y), xx += x * x, hh += y * y;
        }
        if (l2) {
            bl.half_error[r] = float(std::sqrt(err));
        } else {
            bl.half_error[r] = xx > 0 ? float(std::sqrt(err / xx)) : 0.0f;
            bl.half_inv_norm[r] = hh > 0 ? float(1 / std::sqrt(hh)) : 0.0f;
        }
    }
    return true;
}

/**
 * l2sq: the mean of the first add call's rows, subtracted from every row before it is rounded to
 * f16 or 8 bits (translation leaves l2 distances as they are and takes an offset out of play).
 */
void set_centre(builder_t& bl, std::size_t first, std::size_t count) {
    std::size_t dim = bl.dim;
    if (bl.kind != kind_t::l2sq || !bl.centre.empty() || !count)
        return;
    std::vector<double> sum(dim, 0.0);
    for (std::size_t r = 0; r != count; ++r)
        for (std::size_t i = 0; i != dim; ++i)
            sum[i] += double(bl.rows[(first + r) * dim + i]);
    bl.centre.resize(dim);
    for (std::size_t i = 0; i != dim; ++i)
        bl.centre[i] = float(sum[i] / double(count));
}

/**
 * Rows first .. first + count − 1 (already in bl.rows, centre set for l2sq) to 8-bit codes, with
 * the rounding error each got measured exactly (in f64; see builder_t::byte_distance).
 */
void encode_bytes(builder_t& bl, std::size_t first, std::size_t count) {
    std::size_t dim = bl.dim;
    bool l2 = bl.kind == kind_t::l2sq;
    std::vector<float> x(dim);
    for (std::size_t r = first; r != first + count; ++r) {
        float const* v = bl.rows + r * dim;
        float top = 0;
        for (std::size_t i = 0; i != dim; ++i) {
            x[i] = l2 ? v[i] - bl.centre[i] : v[i];
            top = (std::max)(top, std::fabs(x[i]));
        }
        std::int8_t* q = bl.codes + r * bl.code_stride;
        std::fill(q, q + bl.code_stride, std::int8_t(0));
        float scale = top / 127.0f;
        std::int64_t sum = 0, sq = 0;
        if (top > 0)
            for (std::size_t i = 0; i != dim; ++i) {
                long c = std::lround(double(x[i]) / double(scale));
                c = (std::min)(127L, (std::max)(-127L, c));
                q[i] = std::int8_t(c);
                sum += c, sq += c * c;
            }
        double err = 0, xx = 0;
        for (std::size_t i = 0; i != dim; ++i) {
            double e = double(x[i]) - double(scale) * double(q[i]);
            err += e * e, xx += double(x[i]) * double(x[i]);
        }
        bl.code_scale[r] = scale;
        bl.code_sum[r] = std::int32_t(sum);
        bl.code_norm[r] = l2   ? float(double(scale) * double(scale) * double(sq))
                          : sq ? float(1 / std::sqrt(double(sq)))
                               : 0.0f;
        bl.code_error[r] = l2 ? float(std::sqrt(err)) : xx > 0 ? float(std::sqrt(err / xx)) : 0.0f;
    }
}

/**
 * buildAdd(builder, rows Float32Array, firstKey, count): adds `count` rows keyed firstKey .. (which
 * must be the number added so far: keys are the row offsets). Synchronous; non-finite values, a
 * wrong length or more rows than the capacity throw before anything is added.
 */
napi_value js_build_add(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 4);
        builder_t* bl = unwrap_builder(env, argv[0]);
        typed_t t = typed_arg(env, argv[1], "rows");
        std::size_t first = count_arg(env, argv[2], "firstKey", UINT32_MAX);
        std::size_t count = count_arg(env, argv[3], "count", UINT32_MAX);
        if (t.type != napi_float32_array)
            throw js_error{"hnsw-filter: rows must be a Float32Array"};
        if (t.length != count * bl->dim)
            throw js_error{"hnsw-filter: rows hold " + std::to_string(t.length) + " floats, not count × dim = " +
                           std::to_string(count * bl->dim)};
        if (first != bl->added)
            throw js_error{"hnsw-filter: firstKey must be " + std::to_string(bl->added) +
                           " (keys are the row offsets, added in order), got " + std::to_string(first)};
        if (count > bl->capacity - bl->added)
            throw js_error{"hnsw-filter: " + std::to_string(count) + " more rows exceed the capacity of " +
                           std::to_string(bl->capacity) + " (" + std::to_string(bl->added) + " added)"};
        auto src = static_cast<float const*>(t.data);
        std::size_t total = count * bl->dim;
        for (std::size_t i = 0; i != total; ++i)
            if (!std::isfinite(src[i]))
                throw js_error{"hnsw-filter: row " + std::to_string(first + i / bl->dim) +
                               " holds a non-finite value"};
        float* dst = bl->rows + first * bl->dim;
        if (total)
            std::memcpy(dst, src, total * sizeof(float));
        if (bl->kind == kind_t::cos)
            for (std::size_t r = 0; r != count; ++r) {
                float const* v = dst + r * bl->dim;
                bl->norms[first + r] = bl->kernels->dot_f64sum_fq(v, v, bl->dim);
            }
        set_centre(*bl, first, count);
        if (bl->bytes8)
            encode_bytes(*bl, first, count);
        else if (bl->half && !encode_halves(*bl, first, count))
            bl->half = false, bl->half_off = "a value beyond f16's range";
        for (auto& c : bl->counts)
            c = build_counts_t{};
        if (count)
            add_rows(*bl, first, count);
        bl->added += count;
        std::uint64_t distances = 0, recomputed = 0;
        for (auto const& c : bl->counts)
            distances += c.distances, recomputed += c.recomputed;
        bl->approx_distances += distances, bl->approx_recomputed += recomputed;
        // A call's worth of distances is a fair sample of how the data sits against the codes' or
        // f16's precision. Leaving the codes, the rows so far get their f16 copies.
        if (distances >= 4096 && recomputed > distances / 4) {
            if (bl->bytes8) {
                bl->bytes8 = false, bl->bytes_off = "too many distances below the 8-bit codes' error bound";
                std::size_t before = bl->bytes();
                bl->free_codes();
                allocate_halves(*bl);
                int64_t adjusted;
                napi_adjust_external_memory(env, int64_t(bl->bytes() - before), &adjusted);
                if (!encode_halves(*bl, 0, bl->added))
                    bl->half = false, bl->half_off = "a value beyond f16's range";
            } else if (bl->half) {
                bl->half = false, bl->half_off = "too many distances below f16's error bound";
            }
        }
        return nullptr;
    });
}

/** buildSave(builder, path): writes the graph so far as usearch's `save` does. */
napi_value js_build_save(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 2);
        builder_t* bl = unwrap_builder(env, argv[0]);
        std::string path = string_arg(env, argv[1], "path");
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (!f)
            throw js_error{"hnsw-filter: cannot write " + path + ": " + std::strerror(errno)};
        serialization_result_t r = write_dense(
            *bl, [&](void const* data, std::size_t length) { return std::fwrite(data, 1, length, f) == length; });
        bool ok = bool(r) && std::fflush(f) == 0;
        ok = std::fclose(f) == 0 && ok;
        if (!ok)
            throw js_error{"hnsw-filter: cannot write " + path + (r ? std::string() : ": " + std::string(r.error.release()))};
        return nullptr;
    });
}

/**
 * buildFinish(builder) → index handle: the graph so far, serialised as `save` writes it and opened
 * from those bytes as `openBytes` would (so it is searched exactly like a file Strata wrote). The
 * builder is released.
 */
napi_value js_build_finish(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 1);
        builder_t* bl = unwrap_builder(env, argv[0]);
        auto ix = std::make_unique<index_t>();
        ix->owned.resize(dense_length(*bl));
        std::size_t at = 0;
        byte_t* out = ix->owned.data();
        std::size_t cap = ix->owned.size();
        serialization_result_t r = write_dense(*bl, [&](void const* buffer, std::size_t length) {
            if (length > cap - at)
                return false;
            std::memcpy(out + at, buffer, length);
            at += length;
            return true;
        });
        if (!r || at != cap)
            throw js_error{std::string("hnsw-filter: cannot serialise the graph: ") +
                           (r ? "length mismatch" : r.error.release())};
        release_builder(env, argv[0]);
        try {
            attach(*ix, memory_mapped_file_t(ix->owned.data(), ix->owned.size()));
        } catch (js_error const& e) {
            throw js_error{"hnsw-filter: the built graph does not open: " + e.message};
        }
        return wrap_index(env, std::move(ix));
    });
}

/** buildFree(builder): releases it now rather than at GC. Idempotent. */
napi_value js_build_free(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 1);
        if (!has_tag(env, argv[0], builder_tag))
            throw js_error{"hnsw-filter: not a builder handle"};
        release_builder(env, argv[0]);
        return nullptr;
    });
}

/**
 * halfKernels(q Float32Array, b Float32Array) → for each f16 level this CPU runs, best first (builds
 * use the first): [name, l2sq, dot, q as f16, b as f16 (number arrays)], the f16 kernels on q and b
 * rounded by that level's conversion. For tests: every level is checked on any CPU that has it.
 */
napi_value js_half_kernels(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 2);
        typed_t q = typed_arg(env, argv[0], "q"), b = typed_arg(env, argv[1], "b");
        if (q.type != napi_float32_array || b.type != napi_float32_array || q.length != b.length)
            throw js_error{"hnsw-filter: q and b must be Float32Arrays of one length"};
        std::size_t n = q.length, stride = (n + half_block - 1) / half_block * half_block;
        auto levels = half_kernel_levels();
        napi_value out;
        check(env, napi_create_array_with_length(env, levels.size(), &out), "result");
        for (std::size_t l = 0; l != levels.size(); ++l) {
            half_kernels_t const& k = *levels[l];
            std::vector<std::uint16_t> qh(stride, 0), bh(stride, 0);
            k.encode(static_cast<float const*>(q.data), qh.data(), n);
            k.encode(static_cast<float const*>(b.data), bh.data(), n);
            napi_value row, x;
            check(env, napi_create_array_with_length(env, 5, &row), "result");
            check(env, napi_create_string_utf8(env, k.name, NAPI_AUTO_LENGTH, &x), "result");
            check(env, napi_set_element(env, row, 0, x), "result");
            check(env, napi_create_double(env, k.l2sq(qh.data(), bh.data(), stride), &x), "result");
            check(env, napi_set_element(env, row, 1, x), "result");
            check(env, napi_create_double(env, k.dot(qh.data(), bh.data(), stride), &x), "result");
            check(env, napi_set_element(env, row, 2, x), "result");
            for (std::uint32_t which = 0; which != 2; ++which) {
                auto const& h = which ? bh : qh;
                napi_value values, v;
                check(env, napi_create_array_with_length(env, n, &values), "result");
                for (std::size_t i = 0; i != n; ++i) {
                    check(env, napi_create_double(env, double(float_of(h[i])), &v), "result");
                    check(env, napi_set_element(env, values, std::uint32_t(i), v), "result");
                }
                check(env, napi_set_element(env, row, 3 + which, values), "result");
            }
            check(env, napi_set_element(env, out, std::uint32_t(l), row), "result");
        }
        return out;
    });
}

/**
 * byteKernels(a Int8Array, b Int8Array) → for each 8-bit level this CPU runs, best first (builds
 * use the first): [name, Σ a·b] over the codes zero-padded to whole blocks. For tests.
 */
napi_value js_byte_kernels(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 2);
        typed_t a = typed_arg(env, argv[0], "a"), b = typed_arg(env, argv[1], "b");
        if (a.type != napi_int8_array || b.type != napi_int8_array || a.length != b.length)
            throw js_error{"hnsw-filter: a and b must be Int8Arrays of one length"};
        std::size_t n = a.length, stride = (n + byte_block - 1) / byte_block * byte_block;
        std::vector<std::int8_t> pa(stride, 0), pb(stride, 0);
        std::memcpy(pa.data(), a.data, n), std::memcpy(pb.data(), b.data, n);
        std::int32_t b_sum = 0;
        for (std::int8_t c : pb)
            b_sum += c;
        auto levels = byte_kernel_levels();
        napi_value out;
        check(env, napi_create_array_with_length(env, levels.size(), &out), "result");
        for (std::size_t l = 0; l != levels.size(); ++l) {
            napi_value row, x;
            check(env, napi_create_array_with_length(env, 2, &row), "result");
            check(env, napi_create_string_utf8(env, levels[l]->name, NAPI_AUTO_LENGTH, &x), "result");
            check(env, napi_set_element(env, row, 0, x), "result");
            check(env, napi_create_int32(env, levels[l]->dot(pa.data(), pb.data(), stride, b_sum), &x), "result");
            check(env, napi_set_element(env, row, 1, x), "result");
            check(env, napi_set_element(env, out, std::uint32_t(l), row), "result");
        }
        return out;
    });
}

/**
 * buildStats(builder) → [what distances are scored on now ("bytes" | "f16" | "f32"), distances
 * scored on codes or f16 so far, of those recomputed in f32, why the build left each tier it left
 * ("; "-joined, "" when none)]. For tests and measurements.
 */
napi_value js_build_stats(napi_env env, napi_callback_info info) {
    return guarded(env, [&]() -> napi_value {
        auto argv = args_of(env, info, 1);
        builder_t* bl = unwrap_builder(env, argv[0]);
        napi_value out, x;
        check(env, napi_create_array_with_length(env, 4, &out), "result");
        char const* tier = bl->bytes8 ? "bytes" : bl->half ? "f16" : "f32";
        check(env, napi_create_string_utf8(env, tier, NAPI_AUTO_LENGTH, &x), "result");
        check(env, napi_set_element(env, out, 0, x), "result");
        double v[2] = {double(bl->approx_distances), double(bl->approx_recomputed)};
        for (std::uint32_t i = 0; i != 2; ++i) {
            check(env, napi_create_double(env, v[i], &x), "result");
            check(env, napi_set_element(env, out, i + 1, x), "result");
        }
        std::string why = bl->bytes_off;
        if (!bl->half_off.empty())
            why += (why.empty() ? "" : "; ") + bl->half_off;
        check(env, napi_create_string_utf8(env, why.c_str(), NAPI_AUTO_LENGTH, &x), "result");
        check(env, napi_set_element(env, out, 3, x), "result");
        return out;
    });
}

napi_value init(napi_env env, napi_value exports) {
    struct entry {
        char const* name;
        napi_callback fn;
    } const fns[] = {{"open", js_open},                  {"openBytes", js_open_bytes},
                     {"close", js_close},                {"info", js_info},
                     {"save", js_save},                  {"copyPayload", js_copy_payload},
                     {"search", js_search},              {"countPassing", js_count_passing},
                     {"floatKernels", js_float_kernels}, {"buildBegin", js_build_begin},
                     {"buildAdd", js_build_add},         {"buildSave", js_build_save},
                     {"buildFinish", js_build_finish},   {"buildFree", js_build_free},
                     {"halfKernels", js_half_kernels},   {"byteKernels", js_byte_kernels},
                     {"buildStats", js_build_stats}};
    for (auto const& e : fns) {
        napi_value f;
        if (napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &f) != napi_ok ||
            napi_set_named_property(env, exports, e.name, f) != napi_ok)
            return nullptr;
    }
    napi_value version;
    napi_create_uint32(env, 3, &version);
    napi_set_named_property(env, exports, "abiVersion", version);
    return exports;
}

} // namespace

NAPI_MODULE_INIT() { return init(env, exports); }
