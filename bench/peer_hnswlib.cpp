// peer_hnswlib.cpp: the hnswlib peer of the benchmark (Debian libhnswlib-dev), with the same
// command line and output lines as hs-bench, so bench/compare.py can put them side by side.
//
//   peer-hnswlib --metric l2|cosine|poincare --base F --query F --truth F [--k 10] [--M 16]
//                [--ef-construction 200] [--threads 2] [--ef 10,20,40,80]
//                [--base-f64 F --query-f64 F] [--dump-results F]
//
// l2 uses hnswlib's L2Space, cosine its InnerProductSpace on normalised vectors, and poincare a
// small custom space: each element is the float32 ball coordinates followed by
// alpha = 1/(1-|x|^2) computed in float64, and the distance is |u-v|^2 * alpha_u * alpha_v from
// direct differences: monotone in the geodesic distance, so graph and ranking are exact.
// With --base-f64/--query-f64 (.dvecs, the same rows in float64) alpha comes from the float64
// coordinates; otherwise from the float32 ones.  l2 and cosine ignore the float64 files.
// Build: g++ -O3 -march=native -std=c++17 -pthread (bench/run.sh does it).

#include <hnswlib/hnswlib.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string &msg)
{
    std::fprintf(stderr, "peer-hnswlib: %s\n", msg.c_str());
    std::exit(2);
}

// TEXMEX files: per vector an int32 dimension then dim values of sizeof(T) bytes
// (.fvecs: float, .ivecs: int32 read into the same 4-byte slots, .dvecs: double).
template <typename T> struct Rows {
    size_t n = 0, dim = 0;
    std::vector<T> data;
};

template <typename T> Rows<T> read_vecs(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    if (!f)
        die("cannot open " + path);
    Rows<T> m;
    int32_t d;
    while (f.read(reinterpret_cast<char *>(&d), 4)) {
        if (d <= 0 || (m.dim && size_t(d) != m.dim))
            die("bad record in " + path);
        m.dim = size_t(d);
        size_t at = m.data.size();
        m.data.resize(at + m.dim);
        if (!f.read(reinterpret_cast<char *>(&m.data[at]), std::streamsize(sizeof(T) * m.dim)))
            die("short record in " + path);
        m.n++;
    }
    return m;
}

template <typename T> double alpha_of(const T *x, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += double(x[i]) * double(x[i]);
    if (!(s < 1.0))
        die("a point lies outside the open unit ball (|x|^2 >= 1)");
    return 1.0 / (1.0 - s);
}

// Distance evaluations made by this thread (the Poincare space counts them; the main thread runs
// the single-thread passes, so their count per query is printed beside hs-bench's).
static thread_local unsigned long poincare_evals;

// The Poincare space: stores [float x[dim], padding to 8 bytes, double alpha].
struct PoincareSpace : public hnswlib::SpaceInterface<float> {
    size_t dim, alpha_off, size;
    explicit PoincareSpace(size_t d) : dim(d)
    {
        alpha_off = (d * sizeof(float) + 7) & ~size_t(7);
        size = alpha_off + sizeof(double);
    }
    static float dist(const void *a, const void *b, const void *param)
    {
        const PoincareSpace *s = static_cast<const PoincareSpace *>(param);
        poincare_evals++;
        const float *x = static_cast<const float *>(a), *y = static_cast<const float *>(b);
        float acc = 0;
        size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
        // the same 8-lane FMA kernel a tuned space would use (built with -march=native)
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        for (; i + 16 <= s->dim; i += 16) {
            __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i));
            __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8));
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            s1 = _mm256_fmadd_ps(d1, d1, s1);
        }
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, _mm256_add_ps(s0, s1));
        for (float l : lanes)
            acc += l;
#endif
        for (; i < s->dim; i++) {
            float d = x[i] - y[i];
            acc += d * d;
        }
        double ax, ay;
        std::memcpy(&ax, static_cast<const char *>(a) + s->alpha_off, 8);
        std::memcpy(&ay, static_cast<const char *>(b) + s->alpha_off, 8);
        return float(double(acc) * ax * ay);
    }
    size_t get_data_size() override { return size; }
    hnswlib::DISTFUNC<float> get_dist_func() override { return dist; }
    void *get_dist_func_param() override { return this; }
};

struct Options {
    std::string metric = "l2", base, query, truth, base64, query64, dump;
    size_t k = 10, m = 16, efc = 200, threads = 2;
    std::vector<size_t> efs = {10, 20, 40, 80};
};

Options parse(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc)
            die("missing value for " + a);
        std::string v = argv[++i];
        if (a == "--metric")
            o.metric = v;
        else if (a == "--base")
            o.base = v;
        else if (a == "--query")
            o.query = v;
        else if (a == "--truth")
            o.truth = v;
        else if (a == "--k")
            o.k = std::stoul(v);
        else if (a == "--M")
            o.m = std::stoul(v);
        else if (a == "--ef-construction")
            o.efc = std::stoul(v);
        else if (a == "--threads")
            o.threads = std::stoul(v);
        else if (a == "--ef") {
            o.efs.clear();
            size_t pos = 0;
            while (pos < v.size()) {
                size_t comma = v.find(',', pos);
                o.efs.push_back(std::stoul(v.substr(pos, comma - pos)));
                pos = comma == std::string::npos ? v.size() : comma + 1;
            }
        } else if (a == "--base-f64")
            o.base64 = v;
        else if (a == "--dump-results")
            o.dump = v;
        else if (a == "--query-f64")
            o.query64 = v;
        else if (a == "--quant") {
            // hs-bench's storage choice: accepted so a shared command line works, no effect here
        } else
            die("unknown flag " + a);
    }
    if (o.base.empty() || o.query.empty() || o.truth.empty())
        die("--base, --query and --truth are required");
    if (o.k == 0 || o.threads == 0 || o.efs.empty())
        die("--k, --threads and --ef must be positive");
    return o;
}

long rss_bytes()
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::atol(line.c_str() + 6) * 1024;
    return 0;
}

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Element bytes for one vector of the space; x64 (may be null) is the same row in float64.
std::vector<char> element(const Options &o, const float *x, const double *x64, size_t dim,
                          size_t size)
{
    std::vector<char> e(size, 0);
    if (o.metric == "poincare") {
        std::memcpy(e.data(), x, dim * sizeof(float));
        double a = x64 ? alpha_of(x64, dim) : alpha_of(x, dim);
        std::memcpy(e.data() + size - 8, &a, 8);
    } else if (o.metric == "cosine") {
        double s = 0;
        for (size_t i = 0; i < dim; i++)
            s += double(x[i]) * x[i];
        float inv = float(1.0 / std::sqrt(s > 0 ? s : 1));
        float *f = reinterpret_cast<float *>(e.data());
        for (size_t i = 0; i < dim; i++)
            f[i] = x[i] * inv;
    } else {
        std::memcpy(e.data(), x, dim * sizeof(float));
    }
    return e;
}

} // namespace

// --dump-results: the k ids of every query at the last ef (1 thread), as .ivecs.
static void dump_results(const std::string &path, const std::vector<uint32_t> &results, size_t k)
{
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f)
        die("cannot open " + path);
    int32_t d = int32_t(k);
    for (size_t i = 0; i < results.size() / k; i++)
        if (std::fwrite(&d, 4, 1, f) != 1 || std::fwrite(&results[i * k], 4, k, f) != k)
            die("cannot write " + path);
    std::fclose(f);
}

int main(int argc, char **argv)
{
    Options o = parse(argc, argv);
    Rows<float> base = read_vecs<float>(o.base), query = read_vecs<float>(o.query);
    Rows<int32_t> truth = read_vecs<int32_t>(o.truth);
    if (base.dim != query.dim || truth.n < query.n || truth.dim < o.k)
        die("inconsistent inputs");
    size_t dim = base.dim;
    Rows<double> base64, query64;
    if (o.metric == "poincare" && !o.base64.empty())
        base64 = read_vecs<double>(o.base64);
    if (o.metric == "poincare" && !o.query64.empty())
        query64 = read_vecs<double>(o.query64);
    if ((base64.n && (base64.n != base.n || base64.dim != dim)) ||
        (query64.n && (query64.n != query.n || query64.dim != dim)))
        die("the float64 files do not match the float32 ones");
    std::unique_ptr<hnswlib::SpaceInterface<float>> space;
    if (o.metric == "l2")
        space.reset(new hnswlib::L2Space(dim));
    else if (o.metric == "cosine")
        space.reset(new hnswlib::InnerProductSpace(dim));
    else if (o.metric == "poincare")
        space.reset(new PoincareSpace(dim));
    else
        die("unknown metric " + o.metric);
    size_t esize = space->get_data_size();
    std::printf("system=hnswlib version=0.6.2\n");
    std::fflush(stdout);

    std::vector<std::vector<char>> elems(base.n), qelems(query.n);
    for (size_t i = 0; i < base.n; i++)
        elems[i] = element(o, &base.data[i * dim], base64.n ? &base64.data[i * dim] : nullptr,
                           dim, esize);
    for (size_t i = 0; i < query.n; i++)
        qelems[i] = element(o, &query.data[i * dim], query64.n ? &query64.data[i * dim] : nullptr,
                            dim, esize);
    base64 = {};
    query64 = {};

    long rss0 = rss_bytes();
    double t0 = now();
    hnswlib::HierarchicalNSW<float> index(space.get(), base.n, o.m, o.efc, 100);
    index.addPoint(elems[0].data(), 0);
    std::atomic<size_t> next(1);
    auto build = [&]() {
        for (size_t i; (i = next++) < base.n;)
            index.addPoint(elems[i].data(), i);
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < o.threads; t++)
        pool.emplace_back(build);
    build();
    for (auto &t : pool)
        t.join();
    double build_seconds = now() - t0;
    long rss_growth = rss_bytes() - rss0; // VmRSS after the build minus before it
    std::printf("build_seconds=%.2f threads=%zu\n", build_seconds, o.threads);
    std::fflush(stdout);

    std::vector<uint32_t> results(query.n * o.k);
    for (size_t ef : o.efs) {
        index.setEf(ef);
        for (size_t threads : {size_t(1), o.threads}) {
            auto pass = [&]() {
                std::atomic<size_t> q(0);
                auto work = [&]() {
                    for (size_t i; (i = q++) < query.n;) {
                        auto r = index.searchKnn(qelems[i].data(), o.k);
                        for (size_t j = o.k; j-- > 0;) {
                            results[i * o.k + j] = r.empty() ? UINT32_MAX : uint32_t(r.top().second);
                            if (!r.empty())
                                r.pop();
                        }
                    }
                };
                std::vector<std::thread> ts;
                double s = now();
                for (size_t t = 1; t < threads; t++)
                    ts.emplace_back(work);
                work();
                for (auto &t : ts)
                    t.join();
                return now() - s;
            };
            unsigned long evals0 = poincare_evals;
            pass(); /* warm-up, and the results the recall is computed from */
            double evals_per_query = double(poincare_evals - evals0) / double(query.n);
            // recall@k against the first k ids of the ground truth
            const int32_t *gt = truth.data.data();
            size_t hits = 0, zero = 0; // zero: queries that found none of their k neighbours
            for (size_t i = 0; i < query.n; i++) {
                size_t h = 0;
                for (size_t j = 0; j < o.k; j++)
                    for (size_t g = 0; g < o.k; g++)
                        if (results[i * o.k + j] == uint32_t(gt[i * truth.dim + g])) {
                            h++;
                            break;
                        }
                hits += h;
                zero += h == 0;
            }
            if (threads == 1 && !o.dump.empty() && ef == o.efs.back())
                dump_results(o.dump, results, o.k);
            std::vector<double> qps;
            for (int rep = 0; rep < 3; rep++) {
                double secs = 0;
                size_t done = 0;
                while (secs < 0.3) {
                    secs += pass();
                    done += query.n;
                }
                qps.push_back(double(done) / secs);
            }
            std::sort(qps.begin(), qps.end());
            std::printf("ef=%zu recall=%.4f qps=%.0f threads=%zu zero_hit_queries=%zu", ef,
                        double(hits) / double(query.n * o.k), qps[1], threads, zero);
            if (threads == 1 && o.metric == "poincare")
                std::printf(" dists_per_query=%.0f", evals_per_query);
            std::printf("\n");
            std::fflush(stdout);
            if (o.threads == 1)
                break;
        }
    }
    // hnswlib's memory, computed from its structures (an estimate; RSS growth is printed too):
    //   index_bytes = max_elements_ * size_data_per_element_   level 0: vector, links, label
    //               + sum over elements with level > 0 of level * size_links_per_element_
    //               + n * (sizeof(std::mutex)                   link_list_locks_
    //                      + sizeof(int)                        element_levels_
    //                      + 8                                  linkLists_ pointer
    //                      + 32)                                label_lookup_ node (estimate)
    size_t upper = 0;
    for (size_t i = 0; i < base.n; i++)
        if (index.element_levels_[i] > 0)
            upper += size_t(index.element_levels_[i]) * index.size_links_per_element_;
    size_t bytes = index.max_elements_ * index.size_data_per_element_ + upper +
                   base.n * (sizeof(std::mutex) + sizeof(int) + 8 + 32);
    std::printf("index_bytes=%zu rss_growth_bytes=%ld\n", bytes, rss_growth);
    return 0;
}
