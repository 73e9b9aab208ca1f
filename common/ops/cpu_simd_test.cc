// Every vectorized table this CPU can run (AVX-512, AVX2, baseline) against
// plain reference loops written here: the same bits for the elementwise
// loops and the applies, sums within rounding, pooling with TensorFlow's
// tie rule (the first largest input of a window takes the gradient).
#include "common/ops/cpu_simd.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>

namespace psflow::simd {
namespace {

std::vector<float> Random(size_t n, uint64_t seed, float lo = -1, float hi = 1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Lengths that leave every remainder of a 16-wide vector, and an empty one.
const int64_t kLengths[] = {0, 1, 7, 16, 33, 1000, 4099};

TEST(CpuSimdTest, TheBaselineIsAlwaysThereAndTheChoiceIsTheWidest) {
  const auto tables = Supported();
  ASSERT_FALSE(tables.empty());
  EXPECT_STREQ(tables.back()->isa, "baseline");
  if (std::getenv("PSFLOW_CPU_ISA") == nullptr) EXPECT_EQ(&Get(), tables.front());
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_THAT(tables.size(), ::testing::Ge(2u)) << "an AVX2 CPU runs the avx2 table";
  }
}

TEST(CpuSimdTest, ElementwiseLoopsGiveTheReferenceBits) {
  for (const Kernels* k : Supported()) {
    SCOPED_TRACE(k->isa);
    for (int64_t n : kLengths) {
      const auto x = Random(static_cast<size_t>(n), 1), g = Random(static_cast<size_t>(n), 2);
      std::vector<float> y(static_cast<size_t>(n)), d(static_cast<size_t>(n));
      k->relu(x.data(), y.data(), n);
      k->relu_grad(g.data(), y.data(), d.data(), n);
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(y[i], x[i] > 0 ? x[i] : 0.f) << i;
        ASSERT_EQ(d[i], y[i] > 0 ? g[i] : 0.f) << i;
      }
    }
    for (int64_t cols : {1, 10, 32, 37}) {
      const int64_t rows = 129;
      const auto x = Random(static_cast<size_t>(rows * cols), 3), b = Random(static_cast<size_t>(cols), 4);
      std::vector<float> y(x.size()), sums(static_cast<size_t>(cols), 99.f);
      k->bias_add(x.data(), b.data(), y.data(), rows, cols);
      k->sum_rows(x.data(), sums.data(), rows, cols);
      // In place, on every other row (row stride 2 * cols), with and without ReLU.
      auto fused = x, fused_relu = x;
      k->bias_relu(fused.data(), b.data(), rows / 2, cols, 2 * cols, false);
      k->bias_relu(fused_relu.data(), b.data(), rows / 2, cols, 2 * cols, true);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const size_t i = static_cast<size_t>(r * cols + c);
          const float want = r % 2 == 0 && r / 2 < rows / 2 ? x[i] + b[static_cast<size_t>(c)] : x[i];
          ASSERT_EQ(fused[i], want) << r << "," << c;
          ASSERT_EQ(fused_relu[i], r % 2 == 0 && r / 2 < rows / 2 ? (want > 0 ? want : 0.f) : x[i]) << r << "," << c;
        }
      }
      for (int64_t c = 0; c < cols; ++c) {
        double want = 0;
        for (int64_t r = 0; r < rows; ++r) {
          const size_t i = static_cast<size_t>(r * cols + c);
          ASSERT_EQ(y[i], x[i] + b[static_cast<size_t>(c)]);
          want += x[i];
        }
        EXPECT_NEAR(sums[static_cast<size_t>(c)], want, 1e-4) << "column " << c;
      }
    }
  }
}

TEST(CpuSimdTest, AppliesFollowTensorFlowsFormulasToTheBit) {
  for (const Kernels* k : Supported()) {
    SCOPED_TRACE(k->isa);
    for (int64_t n : kLengths) {
      const size_t sz = static_cast<size_t>(n);
      const auto g = Random(sz, 5);
      auto w = Random(sz, 6), m = Random(sz, 7), v = Random(sz, 8, 0.01f, 1.f);
      auto w_ref = w, m_ref = m, v_ref = v;
      const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
      k->adam(w.data(), m.data(), v.data(), g.data(), n, lr, b1, b2, eps);
      for (size_t i = 0; i < sz; ++i) {
        m_ref[i] += (g[i] - m_ref[i]) * (1.f - b1);
        v_ref[i] += (g[i] * g[i] - v_ref[i]) * (1.f - b2);
        w_ref[i] -= lr * m_ref[i] / (std::sqrt(v_ref[i]) + eps);
        ASSERT_EQ(m[i], m_ref[i]) << i;
        ASSERT_EQ(v[i], v_ref[i]) << i;
        ASSERT_EQ(w[i], w_ref[i]) << i;
      }
      auto a = Random(sz, 9, 0.1f, 1.f), a_ref = a;
      w_ref = w;
      k->adagrad(w.data(), a.data(), g.data(), n, lr);
      for (size_t i = 0; i < sz; ++i) {
        a_ref[i] += g[i] * g[i];
        w_ref[i] -= lr * g[i] / std::sqrt(a_ref[i]);
        ASSERT_EQ(a[i], a_ref[i]) << i;
        ASSERT_EQ(w[i], w_ref[i]) << i;
      }
      w_ref = w;
      k->sgd(w.data(), g.data(), n, lr);
      for (size_t i = 0; i < sz; ++i) ASSERT_EQ(w[i], w_ref[i] - lr * g[i]) << i;
      const float mom = 0.9f;
      for (bool nesterov : {false, true}) {
        auto acc = Random(sz, 10), acc_ref = acc;
        w_ref = w;
        k->momentum(w.data(), acc.data(), g.data(), n, lr, mom, nesterov);
        for (size_t i = 0; i < sz; ++i) {
          acc_ref[i] = acc_ref[i] * mom + g[i];
          w_ref[i] -= nesterov ? lr * (g[i] + mom * acc_ref[i]) : lr * acc_ref[i];
          ASSERT_EQ(acc[i], acc_ref[i]) << i;
          ASSERT_EQ(w[i], w_ref[i]) << i;
        }
      }
      auto ms = Random(sz, 11, 0.1f, 1.f), mo = Random(sz, 12), ms_ref = ms, mo_ref = mo;
      w_ref = w;
      const float rho = 0.9f;
      k->rmsprop(w.data(), ms.data(), mo.data(), g.data(), n, lr, rho, mom, eps);
      for (size_t i = 0; i < sz; ++i) {
        ms_ref[i] += (g[i] * g[i] - ms_ref[i]) * (1.f - rho);
        mo_ref[i] = mo_ref[i] * mom + lr * g[i] / std::sqrt(ms_ref[i] + eps);
        w_ref[i] -= mo_ref[i];
        ASSERT_EQ(ms[i], ms_ref[i]) << i;
        ASSERT_EQ(mo[i], mo_ref[i]) << i;
        ASSERT_EQ(w[i], w_ref[i]) << i;
      }
      // FTRL: lr_power -0.5 by square roots (TensorFlow's kernel), others by pow.
      for (float lr_power : {-0.5f, -0.7f}) {
        SCOPED_TRACE(lr_power);
        auto acc = Random(sz, 13, 0.1f, 1.f), lin = Random(sz, 14), acc_ref = acc, lin_ref = lin;
        w_ref = w;
        const float l1 = 0.05f, l2 = 0.01f;
        k->ftrl(w.data(), acc.data(), lin.data(), g.data(), n, lr, l1, l2, lr_power);
        auto power = [&](float x) { return lr_power == -0.5f ? std::sqrt(x) : std::pow(x, -lr_power); };
        int zeros = 0;
        for (size_t i = 0; i < sz; ++i) {
          const float a_new = acc_ref[i] + g[i] * g[i];
          lin_ref[i] += g[i] - (power(a_new) - power(acc_ref[i])) / lr * w_ref[i];
          const float quadratic = power(a_new) / lr + 2.f * l2;
          w_ref[i] = std::abs(lin_ref[i]) > l1 ? ((lin_ref[i] > 0 ? l1 : -l1) - lin_ref[i]) / quadratic : 0.f;
          acc_ref[i] = a_new;
          zeros += w_ref[i] == 0.f;
          ASSERT_EQ(acc[i], acc_ref[i]) << i;
          ASSERT_EQ(lin[i], lin_ref[i]) << i;
          ASSERT_EQ(w[i], w_ref[i]) << i;
        }
        if (n >= 1000) EXPECT_GT(zeros, 0) << "l1 should zero some weights";
      }
    }
  }
}

// The reference: windows in row-major order, the first largest wins.
void ReferencePool(const PoolShape& s, const std::vector<float>& x, const std::vector<float>& dy,
                   std::vector<float>* y, std::vector<float>* dx) {
  y->assign(static_cast<size_t>(s.n * s.oh * s.ow * s.c), 0.f);
  dx->assign(x.size(), 0.f);
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t oy = 0; oy < s.oh; ++oy)
      for (int64_t ox = 0; ox < s.ow; ++ox)
        for (int64_t c = 0; c < s.c; ++c) {
          int64_t best = -1;
          for (int64_t i = 0; i < s.kh; ++i)
            for (int64_t j = 0; j < s.kw; ++j) {
              const int64_t iy = oy * s.sh - s.pad_top + i, ix = ox * s.sw - s.pad_left + j;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              const int64_t at = ((b * s.h + iy) * s.w + ix) * s.c + c;
              if (best < 0 || x[static_cast<size_t>(at)] > x[static_cast<size_t>(best)]) best = at;
            }
          const size_t o = static_cast<size_t>(((b * s.oh + oy) * s.ow + ox) * s.c + c);
          (*y)[o] = x[static_cast<size_t>(best)];
          (*dx)[static_cast<size_t>(best)] += dy[o];
        }
}

TEST(CpuSimdTest, MaxPoolingAndItsGradientMatchTheReferenceWithTies) {
  // n, h, w, c, kh, kw, sh, sw, oh, ow, pad_top, pad_left
  const std::vector<PoolShape> shapes = {
      {2, 28, 28, 32, 2, 2, 2, 2, 14, 14, 0, 0},  // cnn_classifier's pools
      {3, 5, 5, 3, 3, 3, 2, 2, 3, 3, 1, 1},       // SAME: partial windows at the edges
      {1, 6, 7, 17, 3, 2, 1, 2, 4, 3, 0, 0},      // VALID, uneven strides, odd channels
      {1, 4, 4, 300, 2, 2, 2, 2, 2, 2, 0, 0},     // more channels than the stack buffer
      {2, 6, 9, 5, 3, 3, 3, 3, 2, 3, 0, 0},       // 3x3 windows tiling the input exactly
      {1, 5, 5, 4, 2, 2, 2, 2, 2, 2, 0, 0},       // 2x2 stride 2 with a leftover row and column
  };
  for (const Kernels* k : Supported()) {
    SCOPED_TRACE(k->isa);
    uint64_t seed = 20;
    for (const PoolShape& s : shapes) {
      std::vector<float> x(static_cast<size_t>(s.n * s.h * s.w * s.c));
      std::mt19937_64 rng(++seed);
      for (float& v : x) v = static_cast<float>(static_cast<int>(rng() % 3)) - 1.f;  // many ties (ReLU's zeros)
      const auto dy = Random(static_cast<size_t>(s.n * s.oh * s.ow * s.c), ++seed);
      std::vector<float> y(dy.size()), dx(x.size(), 123.f), y_ref, dx_ref;
      k->max_pool(s, x.data(), y.data());
      k->max_pool_grad(s, x.data(), dy.data(), dx.data());
      ReferencePool(s, x, dy, &y_ref, &dx_ref);
      EXPECT_EQ(y, y_ref);
      EXPECT_EQ(dx, dx_ref);
    }
  }
}

// Philox4x32-10 written from the paper (Salmon et al. 2011), checked
// against Random123's published known answers below.
std::array<uint32_t, 4> Philox(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += 0x9E3779B9u;
      k[1] += 0xBB67AE85u;
    }
    const uint64_t a = uint64_t{0xD2511F53u} * c[0], b = uint64_t{0xCD9E8D57u} * c[2];
    c = {static_cast<uint32_t>(b >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(b),
         static_cast<uint32_t>(a >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(a)};
  }
  return c;
}

TEST(CpuSimdTest, ThePhiloxReferenceGivesRandom123sKnownAnswers) {
  EXPECT_EQ(Philox({0, 0, 0, 0}, {0, 0}), (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

// Element i keeps (scale) when Uniform01 of draw (key, offset + i) is below
// keep, as the GPU kernel decides; offsets that carry into the counter's
// second word included.
TEST(CpuSimdTest, DropoutMaskIsPhiloxCompared) {
  const uint64_t key = 0x123456789abcdef0ull;
  for (const Kernels* k : Supported()) {
    SCOPED_TRACE(k->isa);
    for (uint64_t offset : {uint64_t{0}, uint64_t{0xfffffff0ull}, uint64_t{0x7fffffffffffff00ull}}) {
      for (double keep : {0.6, 0.5, 0.999}) {
        const uint64_t keep_below = static_cast<uint64_t>(std::ceil(std::ldexp(keep, 53)));
        for (int64_t n : kLengths) {
          std::vector<float> out(static_cast<size_t>(n), -1.f);
          k->dropout_mask(key, offset, n, keep_below, 2.5f, out.data());
          for (int64_t i = 0; i < n; ++i) {
            const uint64_t ctr = offset + static_cast<uint64_t>(i);
            const auto r = Philox({static_cast<uint32_t>(ctr), static_cast<uint32_t>(ctr >> 32), 0, 0},
                                  {static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32)});
            const uint64_t bits = ((uint64_t{r[0]} << 21) ^ (uint64_t{r[1]} >> 11)) & ((uint64_t{1} << 53) - 1);
            const double u = static_cast<double>(bits) * 0x1p-53;
            ASSERT_EQ(out[static_cast<size_t>(i)], u < keep ? 2.5f : 0.f) << "offset " << offset << " i " << i;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace psflow::simd
