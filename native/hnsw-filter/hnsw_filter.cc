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
//
// Distances are usearch's: l2sq, 1 − dot (ip), 1 − cosine (cos), hamming bits, tanimoto (Jaccard
// distance), so callers convert them to Milvus scores exactly as they convert the binding's. The
// kernels are our own, compiled for several x86 levels and picked at load time (target_clones), so
// the addon needs no `-march` and no NumKong build (minutes of compile time for kernels we do not use).
//
// Everything is synchronous on the calling thread, like the binding; a batch of queries may spread
// over `threads` threads (one search context each).

#include <node_api.h>

#define USEARCH_USE_OPENMP 0
#define USEARCH_USE_NUMKONG 0
#include <usearch/index_dense.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace unum::usearch;

using key_t = default_key_t;   // u64, as the binding writes
using slot_t = default_slot_t; // u32
using graph_t = index_gt<float, key_t, slot_t, aligned_allocator_gt<byte_t, 64>, memory_mapping_allocator_gt<64>>;
using member_cref_t = graph_t::member_cref_t;
using member_citerator_t = graph_t::member_citerator_t;

#if defined(__GNUC__) && __GNUC__ >= 11 && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define STRATA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define STRATA_CLONES
#endif

// Float kernels sum in f64, in eight lanes (lane j takes the elements i ≡ j mod 8), added up in the
// order of _mm512_reduce_add_pd: that is NumKong's AVX-512 code, which the usearch binding runs, so
// distances agree with the binding's bit for bit (every product of two floats is exact in f64, so
// fused or not makes no difference). On other CPUs NumKong's order differs, and only an f64 sum
// sitting on an f32 rounding boundary could round differently. Independent lanes vectorise without
// -ffast-math.
constexpr std::size_t lanes_k = 8;

inline double reduce_lanes(double const* a) noexcept {
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

STRATA_CLONES double l2sq_f32(float const* a, float const* b, std::size_t n) noexcept {
    double acc[lanes_k] = {};
    std::size_t i = 0;
    for (; i + lanes_k <= n; i += lanes_k)
        for (std::size_t j = 0; j != lanes_k; ++j) {
            double d = double(a[i + j]) - double(b[i + j]);
            acc[j] += d * d;
        }
    for (std::size_t j = 0; i + j < n; ++j) {
        double d = double(a[i + j]) - double(b[i + j]);
        acc[j] += d * d;
    }
    return reduce_lanes(acc);
}

STRATA_CLONES double dot_f32(float const* a, float const* b, std::size_t n) noexcept {
    double acc[lanes_k] = {};
    std::size_t i = 0;
    for (; i + lanes_k <= n; i += lanes_k)
        for (std::size_t j = 0; j != lanes_k; ++j)
            acc[j] += double(a[i + j]) * double(b[i + j]);
    for (std::size_t j = 0; i + j < n; ++j)
        acc[j] += double(a[i + j]) * double(b[i + j]);
    return reduce_lanes(acc);
}

/** Dot product and the squared norm of `b` in one pass (cosine; the query's norm is precomputed). */
STRATA_CLONES void dot_norm_f32(float const* a, float const* b, std::size_t n, double* dot, double* bb) noexcept {
    double ab[lanes_k] = {}, b2[lanes_k] = {};
    std::size_t i = 0;
    for (; i + lanes_k <= n; i += lanes_k)
        for (std::size_t j = 0; j != lanes_k; ++j) {
            ab[j] += double(a[i + j]) * double(b[i + j]);
            b2[j] += double(b[i + j]) * double(b[i + j]);
        }
    for (std::size_t j = 0; i + j < n; ++j) {
        ab[j] += double(a[i + j]) * double(b[i + j]);
        b2[j] += double(b[i + j]) * double(b[i + j]);
    }
    *dot = reduce_lanes(ab);
    *bb = reduce_lanes(b2);
}

/** Bits set in a XOR b, a AND b, a OR b over `bytes` bytes. */
STRATA_CLONES void bit_counts(std::uint8_t const* a, std::uint8_t const* b, std::size_t bytes, std::uint64_t* x_out,
                              std::uint64_t* and_out, std::uint64_t* or_out) noexcept {
    std::uint64_t x = 0, n = 0, o = 0;
    std::size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        std::uint64_t u, v;
        std::memcpy(&u, a + i, 8);
        std::memcpy(&v, b + i, 8);
        x += __builtin_popcountll(u ^ v);
        n += __builtin_popcountll(u & v);
        o += __builtin_popcountll(u | v);
    }
    for (; i != bytes; ++i) {
        x += __builtin_popcount(unsigned(a[i] ^ b[i]));
        n += __builtin_popcount(unsigned(a[i] & b[i]));
        o += __builtin_popcount(unsigned(a[i] | b[i]));
    }
    *x_out = x, *and_out = n, *or_out = o;
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
    std::vector<std::uint32_t> slot_row; // the key (row offset) stored in each slot
    std::vector<std::uint32_t> row_slot;
    std::size_t contexts = 1;
    std::size_t entry_slot = 0;
    std::size_t max_level = 0;
    std::vector<walk_context_t> walks;     // one per search context

    byte_t const* vector_at(std::size_t slot) const noexcept { return vectors + slot * vector_bytes; }
};

/**
 * Distance of one query to stored vectors, as usearch's binding computes it (NumKong's kernels and
 * usearch's conversions): l2sq and cosine in f64 rounded to f32; ip as 1 − (f32) dot; hamming as
 * the count; tanimoto as 1 − ∩/∪ in f32 (0 for two empty sets). The query's norm is computed once.
 */
struct metric_t {
    index_t const* ix;
    byte_t const* query;
    double query_norm_sq = 0;           // cosine: |q|²
    std::vector<byte_t> msb_first;       // binary: the query in usearch's bit order

    metric_t(index_t const* index, byte_t const* q) : ix(index), query(q) {
        if (ix->kind == kind_t::cos) {
            auto f = reinterpret_cast<float const*>(q);
            query_norm_sq = dot_f32(f, f, ix->dim);
        }
        if (ix->binary) {
            // Strata packs bit i of a row at (1 << i % 8) of byte i / 8, usearch at (128 >> i % 8).
            msb_first.resize(ix->vector_bytes);
            for (std::size_t i = 0; i != msb_first.size(); ++i) {
                unsigned v = static_cast<unsigned char>(q[i]), r = 0;
                for (int b = 0; b != 8; ++b)
                    r |= ((v >> b) & 1u) << (7 - b);
                msb_first[i] = static_cast<byte_t>(r);
            }
            query = msb_first.data();
        }
    }

    float operator()(byte_t const* b) const noexcept {
        std::size_t d = ix->dim;
        auto qf = reinterpret_cast<float const*>(query);
        auto bf = reinterpret_cast<float const*>(b);
        switch (ix->kind) {
        case kind_t::l2sq: return float(l2sq_f32(qf, bf, d));
        case kind_t::ip: return 1.0f - float(dot_f32(qf, bf, d));
        case kind_t::cos: {
            double ab, bb;
            dot_norm_f32(qf, bf, d, &ab, &bb);
            double aa = query_norm_sq;
            if (aa == 0 && bb == 0)
                return 0.0f;
            if (ab == 0)
                return 1.0f;
            double r = 1 - ab / (std::sqrt(aa) * std::sqrt(bb));
            return float(r > 0 ? r : 0);
        }
        case kind_t::hamming: {
            std::uint64_t x, a, o;
            bit_counts(reinterpret_cast<std::uint8_t const*>(query), reinterpret_cast<std::uint8_t const*>(b),
                       ix->vector_bytes, &x, &a, &o);
            return float(x);
        }
        case kind_t::tanimoto: {
            std::uint64_t x, a, o;
            bit_counts(reinterpret_cast<std::uint8_t const*>(query), reinterpret_cast<std::uint8_t const*>(b),
                       ix->vector_bytes, &x, &a, &o);
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

/** Starts loading the vectors of the neighbours the walk is about to score. */
struct prefetch_t {
    index_t const* ix;
    template <typename iterator_at> void operator()(iterator_at begin, iterator_at end) const noexcept {
        std::size_t lines = (ix->vector_bytes + 63) / 64;
        for (; begin != end; ++begin) {
            byte_t const* v = ix->vector_at(get_slot(begin));
            for (std::size_t l = 0; l != lines; ++l)
                __builtin_prefetch(v + l * 64, 0, 1);
        }
    }
};

struct filter_t {
    std::uint32_t const* slot_row;
    std::uint8_t const* allow;
    bool operator()(member_cref_t m) const noexcept { return allow[slot_row[m.slot]] != 0; }
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

index_t* unwrap(napi_env env, napi_value handle) {
    void* p = nullptr;
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
    for (std::size_t s = 0; s != rows; ++s) {
        std::uint64_t key = ix.graph.at(static_cast<slot_t>(s)).key;
        if (key >= rows || ix.row_slot[key] != UINT32_MAX)
            throw js_error{"keys are not the row offsets 0 .. n-1"};
        ix.slot_row[s] = static_cast<std::uint32_t>(key);
        ix.row_slot[key] = static_cast<std::uint32_t>(s);
    }
}

napi_value wrap_index(napi_env env, std::unique_ptr<index_t> ix) {
    napi_value obj;
    check(env, napi_create_object(env, &obj), "handle");
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
        double values[4] = {double(ix->n), double(ix->dim), double(ix->vector_bytes), double(ix->payload_length)};
        napi_value arr;
        check(env, napi_create_array_with_length(env, 4, &arr), "info");
        for (std::uint32_t i = 0; i != 4; ++i) {
            napi_value v;
            check(env, napi_create_double(env, values[i], &v), "info");
            check(env, napi_set_element(env, arr, i, v), "info");
        }
        return arr;
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
// Searching
// ---------------------------------------------------------------------------------------------

enum class mode_t : int { walk = 0, scan = 1, two_hop = 2 };

inline void prefetch_vector(index_t const& ix, std::uint32_t slot) noexcept {
    byte_t const* v = ix.vector_at(slot);
    for (std::size_t l = 0; l < ix.vector_bytes; l += 64)
        __builtin_prefetch(v + l, 0, 1);
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
    metric_t metric(&ix, q);
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
                     std::uint8_t const* allow, std::size_t context, std::int32_t* keys, float* distances,
                     std::size_t* computed) {
    metric_t metric(&ix, q);
    index_search_config_t config;
    config.thread = context;
    config.expansion = ef;
    prefetch_t prefetch{&ix};
    graph_t::search_result_t r =
        allow ? ix.graph.search(q, wanted, metric, config, filter_t{ix.slot_row.data(), allow}, prefetch)
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
std::size_t walk_two_hop(index_t const& ix, byte_t const* q, std::size_t wanted, std::size_t ef,
                         std::uint8_t const* allow, walk_context_t& w, std::int32_t* keys, float* distances,
                         std::size_t* computed) {
    metric_t metric(&ix, q);
    std::size_t scored = 0;
    auto pass = [&](std::uint32_t slot) { return allow[ix.slot_row[slot]] != 0; };
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
    auto& next = w.next;
    auto& top = w.top;
    w.reset();
    w.visit(ep);
    next.push_back({ep_d, ep});
    float radius = std::numeric_limits<float>::infinity();
    if (pass(ep))
        radius = keep_nearest(top, limit, {ep_d, ep});
    while (!next.empty()) {
        scored_t c = next.front();
        if (c.distance > radius)
            break;
        std::pop_heap(next.begin(), next.end(), nearer_first_t{});
        next.pop_back();
        batch.clear();
        hop.clear();
        auto view = ix.graph.neighbors(static_cast<slot_t>(c.slot), 0);
        for (auto it = view.begin(); it != view.end(); ++it) {
            std::uint32_t s = it.slot();
            if (!w.visit(s))
                continue;
            if (pass(s))
                batch.push_back(s);
            else
                hop.push_back(s);
        }
        for (std::uint32_t u : hop) {
            byte_t const* node = ix.graph.at(static_cast<slot_t>(u)).key.ptr();
            __builtin_prefetch(node, 0, 1);
            __builtin_prefetch(node + 64, 0, 1);
            __builtin_prefetch(node + 128, 0, 1);
        }
        for (std::uint32_t u : hop) {
            auto two = ix.graph.neighbors(static_cast<slot_t>(u), 0);
            for (auto it = two.begin(); it != two.end(); ++it) {
                std::uint32_t s = it.slot();
                if (pass(s) && w.visit(s))
                    batch.push_back(s);
            }
        }
        for (std::uint32_t s : batch)
            prefetch_vector(ix, s);
        for (std::uint32_t s : batch) {
            float d = metric(ix.vector_at(s));
            ++scored;
            if (top.size() < limit || d < radius) {
                next.push_back({d, s});
                std::push_heap(next.begin(), next.end(), nearer_first_t{});
                radius = keep_nearest(top, limit, {d, s});
            }
        }
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
                case mode_t::two_hop: c = walk_two_hop(*ix, q, wanted, ef, allow, w, k, d, &computed[worker]); break;
                default: c = walk_one(*ix, q, wanted, ef, allow, worker, k, d, &computed[worker]); break;
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

napi_value init(napi_env env, napi_value exports) {
    struct entry {
        char const* name;
        napi_callback fn;
    } const fns[] = {{"open", js_open},   {"openBytes", js_open_bytes}, {"close", js_close},
                     {"info", js_info},   {"save", js_save},            {"search", js_search},
                     {"countPassing", js_count_passing}};
    for (auto const& e : fns) {
        napi_value f;
        if (napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &f) != napi_ok ||
            napi_set_named_property(env, exports, e.name, f) != napi_ok)
            return nullptr;
    }
    napi_value version;
    napi_create_uint32(env, 1, &version);
    napi_set_named_property(env, exports, "abiVersion", version);
    return exports;
}

} // namespace

NAPI_MODULE_INIT() { return init(env, exports); }
