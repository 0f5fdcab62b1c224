/// The kernels no CUDA library offers, compiled by NVRTC for the device when it is first used.
/// Each follows the CPU kernel of the same name in `CNNKitKernels` (same window rules, same NaN
/// handling); `cnnkit doctor --device cuda` checks each against it. Element-wise kernels loop with a
/// grid stride, so any grid size covers any count.
let cudaKernelNames = [
  "fill", "broadcast", "copy_scaled", "add", "accumulate", "mul", "relu_forward", "relu_backward", "bias_add",
  "channel_sum", "dropout_forward", "max_pool_forward", "max_pool_backward", "avg_pool_forward",
  "avg_pool_backward", "adaptive_avg_pool_forward", "adaptive_avg_pool_backward", "lrn_forward",
  "lrn_backward", "batch_norm_train_forward", "batch_norm_train_backward", "batch_norm_eval_forward",
  "batch_norm_eval_backward", "softmax_forward", "log_softmax_forward", "softmax_backward",
  "log_softmax_backward", "smoothed_nll_forward", "smoothed_nll_backward", "sum_all", "sgd_step",
  "adam_step",
]

let cudaKernelSource = #"""
  #define NEG_INF __int_as_float(0xff800000)
  #define GRID_STRIDE(i, n) \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)

  // Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
  __device__ float block_sum(float v) {
    __shared__ float partial[32];
    __syncthreads();
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffff, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    v = lane < warps ? partial[lane] : 0.f;
    if (warp == 0)
      for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffff, v, o);
    if (threadIdx.x == 0) partial[0] = v;
    __syncthreads();
    return partial[0];
  }

  extern "C" __global__ void fill(float* p, float v, long long n) { GRID_STRIDE(i, n) p[i] = v; }
  extern "C" __global__ void broadcast(const float* v, float* p, long long n) { GRID_STRIDE(i, n) p[i] = v[0]; }
  extern "C" __global__ void copy_scaled(const float* x, float s, float* y, long long n) {
    GRID_STRIDE(i, n) y[i] = x[i] * s;
  }
  extern "C" __global__ void add(const float* a, const float* b, float* y, long long n) {
    GRID_STRIDE(i, n) y[i] = a[i] + b[i];
  }
  extern "C" __global__ void accumulate(float* a, const float* b, long long n) { GRID_STRIDE(i, n) a[i] += b[i]; }
  extern "C" __global__ void mul(const float* a, const float* b, float* y, long long n) {
    GRID_STRIDE(i, n) y[i] = a[i] * b[i];
  }
  // NaN passes through, as in PyTorch.
  extern "C" __global__ void relu_forward(const float* x, float* y, long long n) {
    GRID_STRIDE(i, n) { float v = x[i]; y[i] = (v > 0.f || v != v) ? v : 0.f; }
  }
  // The mask is the output's sign: relu(x) > 0 exactly where x > 0.
  extern "C" __global__ void relu_backward(const float* y, const float* g, float* dx, long long n) {
    GRID_STRIDE(i, n) dx[i] = y[i] > 0.f ? g[i] : 0.f;
  }
  // y[n, c, s] += b[c]; spatial 1 for a linear layer's [N, C].
  extern "C" __global__ void bias_add(float* y, const float* b, int channels, int spatial, long long n) {
    GRID_STRIDE(i, n) y[i] += b[(i / spatial) % channels];
  }
  // out[c] = Σ over batch and space of g[n, c, s]: one block per channel.
  extern "C" __global__ void channel_sum(const float* g, float* out, int batch, int channels, int spatial) {
    int c = blockIdx.x;
    float s = 0.f;
    for (long long j = threadIdx.x; j < (long long)batch * spatial; j += blockDim.x) {
      long long b = j / spatial, p = j % spatial;
      s += g[(b * channels + c) * spatial + p];
    }
    s = block_sum(s);
    if (threadIdx.x == 0) out[c] = s;
  }
  // A counter-based hash (splitmix64) gives each element its own uniform draw from the seed.
  __device__ float uniform_at(unsigned long long seed, long long i) {
    unsigned long long z = seed + 0x9E3779B97F4A7C15ull * (unsigned long long)(i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (z >> 40) * (1.0f / 16777216.0f);
  }
  extern "C" __global__ void dropout_forward(
      const float* x, float* y, float* mask, float p, float keep_scale, long long seed, long long n) {
    GRID_STRIDE(i, n) {
      float m = uniform_at((unsigned long long)seed, i) < p ? 0.f : keep_scale;
      mask[i] = m;
      y[i] = x[i] * m;
    }
  }

  // Pooling: one thread per output. Geometry: N·C planes of h×w in, oh×ow out.
  struct Pool { int planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw; };
  extern "C" __global__ void max_pool_forward(const float* x, float* y, int* idx, Pool p) {
    GRID_STRIDE(o, (long long)p.planes * p.oh * p.ow) {
      long long plane = o / (p.oh * p.ow);
      int oy = (o / p.ow) % p.oh, ox = o % p.ow;
      int y0 = oy * p.sh - p.ph, x0 = ox * p.sw - p.pw;
      int y1 = min(y0 + p.kh, p.h), x1 = min(x0 + p.kw, p.w);
      y0 = max(y0, 0); x0 = max(x0, 0);
      const float* src = x + plane * p.h * p.w;
      float best = NEG_INF; int arg = y0 * p.w + x0;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
          float v = src[iy * p.w + ix];
          if (v > best || v != v) { best = v; arg = iy * p.w + ix; if (v != v) { iy = y1; break; } }
        }
      y[o] = best;
      if (idx) idx[o] = arg;
    }
  }
  extern "C" __global__ void max_pool_backward(const float* g, const int* idx, float* dx, Pool p) {
    GRID_STRIDE(o, (long long)p.planes * p.oh * p.ow) {
      long long plane = o / (p.oh * p.ow);
      atomicAdd(dx + plane * p.h * p.w + idx[o], g[o]);
    }
  }
  // PyTorch's window: the padded extent counts for count_include_pad, the clipped one otherwise.
  __device__ void avg_window(const Pool& p, long long o, int include_pad, int* y0, int* y1, int* x0, int* x1,
                             float* divisor) {
    int oy = (o / p.ow) % p.oh, ox = o % p.ow;
    int ys = oy * p.sh - p.ph, xs = ox * p.sw - p.pw;
    int ye = min(ys + p.kh, p.h + p.ph), xe = min(xs + p.kw, p.w + p.pw);
    int padded = (ye - ys) * (xe - xs);
    *y0 = max(ys, 0); *x0 = max(xs, 0); *y1 = min(ye, p.h); *x1 = min(xe, p.w);
    *divisor = (float)(include_pad ? padded : (*y1 - *y0) * (*x1 - *x0));
  }
  extern "C" __global__ void avg_pool_forward(const float* x, float* y, Pool p, int include_pad) {
    GRID_STRIDE(o, (long long)p.planes * p.oh * p.ow) {
      int y0, y1, x0, x1; float d;
      avg_window(p, o, include_pad, &y0, &y1, &x0, &x1, &d);
      const float* src = x + o / (p.oh * p.ow) * p.h * p.w;
      float s = 0.f;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) s += src[iy * p.w + ix];
      y[o] = d > 0.f ? s / d : 0.f;
    }
  }
  extern "C" __global__ void avg_pool_backward(const float* g, float* dx, Pool p, int include_pad) {
    GRID_STRIDE(o, (long long)p.planes * p.oh * p.ow) {
      int y0, y1, x0, x1; float d;
      avg_window(p, o, include_pad, &y0, &y1, &x0, &x1, &d);
      if (d == 0.f) continue;
      float share = g[o] / d;
      float* dst = dx + o / (p.oh * p.ow) * p.h * p.w;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) atomicAdd(dst + iy * p.w + ix, share);
    }
  }
  // Adaptive windows: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).
  extern "C" __global__ void adaptive_avg_pool_forward(const float* x, float* y, Pool p) {
    GRID_STRIDE(o, (long long)p.planes * p.oh * p.ow) {
      int oy = (o / p.ow) % p.oh, ox = o % p.ow;
      int y0 = oy * p.h / p.oh, y1 = ((oy + 1) * p.h + p.oh - 1) / p.oh;
      int x0 = ox * p.w / p.ow, x1 = ((ox + 1) * p.w + p.ow - 1) / p.ow;
      const float* src = x + o / (p.oh * p.ow) * p.h * p.w;
      float s = 0.f;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) s += src[iy * p.w + ix];
      y[o] = s / (float)((y1 - y0) * (x1 - x0));
    }
  }
  extern "C" __global__ void adaptive_avg_pool_backward(const float* g, float* dx, Pool p) {
    GRID_STRIDE(o, (long long)p.planes * p.oh * p.ow) {
      int oy = (o / p.ow) % p.oh, ox = o % p.ow;
      int y0 = oy * p.h / p.oh, y1 = ((oy + 1) * p.h + p.oh - 1) / p.oh;
      int x0 = ox * p.w / p.ow, x1 = ((ox + 1) * p.w + p.ow - 1) / p.ow;
      float share = g[o] / (float)((y1 - y0) * (x1 - x0));
      float* dst = dx + o / (p.oh * p.ow) * p.h * p.w;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) atomicAdd(dst + iy * p.w + ix, share);
    }
  }

  // Local response norm across channels, window [c - size/2, c + (size-1)/2]; scale = k + coef·Σx².
  extern "C" __global__ void lrn_forward(const float* x, float* y, float* scale, int channels, int spatial,
                                         int size, float coef, float beta, float k, long long n) {
    GRID_STRIDE(i, n) {
      long long img = i / ((long long)channels * spatial);
      int c = (i / spatial) % channels, s = i % spatial;
      const float* base = x + img * channels * spatial + s;
      int lo = max(0, c - size / 2), hi = min(channels - 1, c + (size - 1) / 2);
      float sum = 0.f;
      for (int j = lo; j <= hi; j++) { float v = base[j * spatial]; sum += v * v; }
      float sc = k + coef * sum;
      scale[i] = sc;
      y[i] = x[i] * powf(sc, -beta);
    }
  }
  // dx_j = dy_j·s_j^(-β) − 2·coef·β·x_j·Σ_{c: j in window(c)} dy_c·x_c·s_c^(−β−1)
  extern "C" __global__ void lrn_backward(const float* x, const float* scale, const float* g, float* dx,
                                          int channels, int spatial, int size, float coef, float beta,
                                          long long n) {
    GRID_STRIDE(i, n) {
      long long img = i / ((long long)channels * spatial);
      int j = (i / spatial) % channels, s = i % spatial;
      long long base = img * channels * spatial + s;
      int lo = max(0, j - (size - 1) / 2), hi = min(channels - 1, j + size / 2);
      float cross = 0.f;
      for (int c = lo; c <= hi; c++) {
        long long at = base + (long long)c * spatial;
        cross += g[at] * x[at] * powf(scale[at], -beta - 1.f);
      }
      dx[i] = g[i] * powf(scale[i], -beta) - 2.f * coef * beta * x[i] * cross;
    }
  }

  // Batch norm in training mode: one block per channel; biased variance normalises, the unbiased one
  // goes into the running buffer (PyTorch's rule). gamma, beta, running buffers may be null.
  extern "C" __global__ void batch_norm_train_forward(
      const float* x, const float* gamma, const float* beta, float* run_mean, float* run_var, float* y,
      float* save_mean, float* save_inv_std, int batch, int channels, int spatial, float momentum, float eps) {
    int c = blockIdx.x;
    long long m = (long long)batch * spatial;
    float s = 0.f;
    for (long long j = threadIdx.x; j < m; j += blockDim.x)
      s += x[(j / spatial * channels + c) * spatial + j % spatial];
    float mean = block_sum(s) / (float)m;
    float q = 0.f;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
      float d = x[(j / spatial * channels + c) * spatial + j % spatial] - mean;
      q += d * d;
    }
    float var = block_sum(q) / (float)m;
    float inv = 1.f / sqrtf(var + eps);
    if (threadIdx.x == 0) {
      save_mean[c] = mean;
      save_inv_std[c] = inv;
      if (run_mean) run_mean[c] = (1.f - momentum) * run_mean[c] + momentum * mean;
      if (run_var) run_var[c] = (1.f - momentum) * run_var[c] + momentum * (m > 1 ? var * m / (m - 1) : var);
    }
    float gm = gamma ? gamma[c] : 1.f, bt = beta ? beta[c] : 0.f;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
      long long at = (j / spatial * channels + c) * spatial + j % spatial;
      y[at] = (x[at] - mean) * inv * gm + bt;
    }
  }
  // dx = γ·inv/M·(M·dy − Σdy − x̂·Σ(dy·x̂)); dγ = Σ dy·x̂; dβ = Σ dy. Outputs may be null.
  extern "C" __global__ void batch_norm_train_backward(
      const float* x, const float* g, const float* gamma, const float* save_mean, const float* save_inv_std,
      float* dx, float* dgamma, float* dbeta, int batch, int channels, int spatial) {
    int c = blockIdx.x;
    long long m = (long long)batch * spatial;
    float mean = save_mean[c], inv = save_inv_std[c];
    float sg = 0.f, sgx = 0.f;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
      long long at = (j / spatial * channels + c) * spatial + j % spatial;
      sg += g[at];
      sgx += g[at] * (x[at] - mean) * inv;
    }
    sg = block_sum(sg);
    sgx = block_sum(sgx);
    if (threadIdx.x == 0) {
      if (dgamma) dgamma[c] = sgx;
      if (dbeta) dbeta[c] = sg;
    }
    if (!dx) return;
    float gm = gamma ? gamma[c] : 1.f;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
      long long at = (j / spatial * channels + c) * spatial + j % spatial;
      float xhat = (x[at] - mean) * inv;
      dx[at] = gm * inv / (float)m * ((float)m * g[at] - sg - xhat * sgx);
    }
  }
  extern "C" __global__ void batch_norm_eval_forward(
      const float* x, const float* gamma, const float* beta, const float* mean, const float* var, float* y,
      int channels, int spatial, float eps, long long n) {
    GRID_STRIDE(i, n) {
      int c = (i / spatial) % channels;
      float inv = 1.f / sqrtf(var[c] + eps);
      y[i] = (x[i] - mean[c]) * inv * (gamma ? gamma[c] : 1.f) + (beta ? beta[c] : 0.f);
    }
  }
  // Fixed statistics make the layer affine: dx = dy·γ/σ, dγ = Σ dy·x̂, dβ = Σ dy (one block a channel).
  extern "C" __global__ void batch_norm_eval_backward(
      const float* x, const float* g, const float* gamma, const float* mean, const float* var, float* dx,
      float* dgamma, float* dbeta, int batch, int channels, int spatial, float eps) {
    int c = blockIdx.x;
    long long m = (long long)batch * spatial;
    float inv = 1.f / sqrtf(var[c] + eps), gm = gamma ? gamma[c] : 1.f;
    float sg = 0.f, sgx = 0.f;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
      long long at = (j / spatial * channels + c) * spatial + j % spatial;
      sg += g[at];
      sgx += g[at] * (x[at] - mean[c]) * inv;
      if (dx) dx[at] = g[at] * gm * inv;
    }
    sg = block_sum(sg);
    sgx = block_sum(sgx);
    if (threadIdx.x == 0) {
      if (dgamma) dgamma[c] = sgx;
      if (dbeta) dbeta[c] = sg;
    }
  }

  // Row-wise softmax family: one block per row.
  extern "C" __global__ void softmax_forward(const float* x, float* y, int columns) {
    const float* row = x + (long long)blockIdx.x * columns;
    float* out = y + (long long)blockIdx.x * columns;
    float mx = NEG_INF;
    for (int j = threadIdx.x; j < columns; j += blockDim.x) mx = fmaxf(mx, row[j]);
    __shared__ float shared_max[32];
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_down_sync(0xffffffff, mx, o));
    if ((threadIdx.x & 31) == 0) shared_max[threadIdx.x >> 5] = mx;
    __syncthreads();
    mx = NEG_INF;
    for (int w = 0; w < (blockDim.x + 31) / 32; w++) mx = fmaxf(mx, shared_max[w]);
    float s = 0.f;
    for (int j = threadIdx.x; j < columns; j += blockDim.x) s += expf(row[j] - mx);
    s = block_sum(s);
    for (int j = threadIdx.x; j < columns; j += blockDim.x) out[j] = expf(row[j] - mx) / s;
  }
  extern "C" __global__ void log_softmax_forward(const float* x, float* y, int columns) {
    const float* row = x + (long long)blockIdx.x * columns;
    float* out = y + (long long)blockIdx.x * columns;
    float mx = NEG_INF;
    for (int j = threadIdx.x; j < columns; j += blockDim.x) mx = fmaxf(mx, row[j]);
    __shared__ float shared_max[32];
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_down_sync(0xffffffff, mx, o));
    if ((threadIdx.x & 31) == 0) shared_max[threadIdx.x >> 5] = mx;
    __syncthreads();
    mx = NEG_INF;
    for (int w = 0; w < (blockDim.x + 31) / 32; w++) mx = fmaxf(mx, shared_max[w]);
    float s = 0.f;
    for (int j = threadIdx.x; j < columns; j += blockDim.x) s += expf(row[j] - mx);
    float lse = mx + logf(block_sum(s));
    for (int j = threadIdx.x; j < columns; j += blockDim.x) out[j] = row[j] - lse;
  }
  // dx = y·(g − Σ g·y)
  extern "C" __global__ void softmax_backward(const float* y, const float* g, float* dx, int columns) {
    long long base = (long long)blockIdx.x * columns;
    float s = 0.f;
    for (int j = threadIdx.x; j < columns; j += blockDim.x) s += g[base + j] * y[base + j];
    s = block_sum(s);
    for (int j = threadIdx.x; j < columns; j += blockDim.x) dx[base + j] = y[base + j] * (g[base + j] - s);
  }
  // dx = g − exp(y)·Σ g
  extern "C" __global__ void log_softmax_backward(const float* y, const float* g, float* dx, int columns) {
    long long base = (long long)blockIdx.x * columns;
    float s = 0.f;
    for (int j = threadIdx.x; j < columns; j += blockDim.x) s += g[base + j];
    s = block_sum(s);
    for (int j = threadIdx.x; j < columns; j += blockDim.x) dx[base + j] = g[base + j] - expf(y[base + j]) * s;
  }
  // Per-sample loss (1 − ε)·(−lp[t]) + ε·mean_j(−lp[j]); one block per row.
  extern "C" __global__ void smoothed_nll_forward(const float* lp, const int* targets, float* loss, int columns,
                                                  float eps) {
    const float* row = lp + (long long)blockIdx.x * columns;
    float s = 0.f;
    if (eps != 0.f)
      for (int j = threadIdx.x; j < columns; j += blockDim.x) s -= row[j];
    s = block_sum(s);
    if (threadIdx.x == 0) loss[blockIdx.x] = -(1.f - eps) * row[targets[blockIdx.x]] + eps * s / (float)columns;
  }
  // d loss_r / d lp[r, j] = (−ε/C − (1 − ε)·[j = t_r])·share_r; share_r = g[r or 0]·scale.
  extern "C" __global__ void smoothed_nll_backward(const float* g, const int* targets, float* dx, int rows,
                                                   int columns, float eps, float scale, int per_sample) {
    GRID_STRIDE(i, (long long)rows * columns) {
      int r = i / columns, j = i % columns;
      float share = (per_sample ? g[r] : g[0]) * scale;
      dx[i] = (-eps / (float)columns - (j == targets[r] ? 1.f - eps : 0.f)) * share;
    }
  }
  // out[0] = scale · Σ x, in one block (losses and metrics: small inputs).
  extern "C" __global__ void sum_all(const float* x, float* out, float scale, long long n) {
    float s = 0.f;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    s = block_sum(s);
    if (threadIdx.x == 0) out[0] = s * scale;
  }

  // torch.optim.SGD: d = g + wd·w; v = first ? d : m·v + (1 − damp)·d; w −= lr·(nesterov ? d + m·v : v).
  extern "C" __global__ void sgd_step(float* w, const float* g, float* v, float lr, float momentum,
                                      float dampening, float wd, int nesterov, int first, long long n) {
    GRID_STRIDE(i, n) {
      float d = g[i] + wd * w[i];
      if (momentum != 0.f) {
        float vel = first ? d : momentum * v[i] + (1.f - dampening) * d;
        v[i] = vel;
        d = nesterov ? d + momentum * vel : vel;
      }
      w[i] -= lr * d;
    }
  }
  // torch.optim.Adam / AdamW, as `AdamUpdate.update`: w ·= decay; g += wd·w; m = lerp(m, g, w1);
  // v = β2·v + w2·g²; w −= step·m / (√v / corr2 + eps).
  extern "C" __global__ void adam_step(float* w, const float* g, float* m, float* v, float decay, float wd,
                                       float w1, float b2, float w2, float step_size, float corr2, float eps,
                                       long long n) {
    GRID_STRIDE(i, n) {
      float p = w[i] * decay;
      float grad = wd == 0.f ? g[i] : g[i] + wd * p;
      float mi = w1 < 0.5f ? m[i] + w1 * (grad - m[i]) : grad - (grad - m[i]) * (1.f - w1);
      float vi = v[i] * b2 + w2 * grad * grad;
      m[i] = mi;
      v[i] = vi;
      w[i] = p + (-step_size * mi / (sqrtf(vi) / corr2 + eps));
    }
  }
  """#
