/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`.
///
/// Same contract as `gemmReference`: `op(A)` is `m×k` (A stored `k×m` when `transposeA`), `op(B)` is
/// `k×n` (B stored `n×k` when `transposeB`). `beta == 0` overwrites C without reading it.
/// Packed, cache-blocked and SIMD; one-row or one-column products stream as matrix-vector products,
/// and `A · Bᵀ` with few rows of A (a small-batch fully connected layer) as dot products. Like
/// reference BLAS, a vector times a matrix whose rows run along the output (`x · B`, `Aᵀ · x`) skips
/// the rows met by a zero of the vector, so NaN or infinity there does not reach C.
public func gemm(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  alpha: Float, a: UnsafePointer<Float>, lda: Int,
  b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  if m <= 0 || n <= 0 { return }
  if k <= 0 || alpha == 0 {
    scaleMatrix(rows: m, cols: n, beta: beta, c: c, ldc: ldc)
    return
  }
  if m == 1 || n == 1 {
    gemvDispatch(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    return
  }
  if !transposeA && transposeB && GEMMDot.applies(m: m, n: n, k: k) {
    GEMMDot.run(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    return
  }
  PackedGEMM.run(
    kernel: MicroKernel.self, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// A packed micro-kernel by its tile shape, whether or not this build chose it.
public enum GEMMTile: CaseIterable, Sendable {
  /// 6×16 in `SIMD8` accumulators (the AVX2 kernel).
  case tile6x16
  /// 12×32 in `SIMD16` accumulators (the AVX-512 kernel).
  case tile12x32
}

/// The packed GEMM through a chosen micro-kernel, skipping the matrix-vector shortcut, so tests can
/// check every kernel on any build. Same contract as `gemm`.
public func gemmPacked(
  tile: GEMMTile, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  alpha: Float, a: UnsafePointer<Float>, lda: Int,
  b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  if m <= 0 || n <= 0 { return }
  if k <= 0 || alpha == 0 {
    scaleMatrix(rows: m, cols: n, beta: beta, c: c, ldc: ldc)
    return
  }
  switch tile {
  case .tile6x16:
    PackedGEMM.run(
      kernel: MicroKernel6x16.self, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
      alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
  case .tile12x32:
    PackedGEMM.run(
      kernel: MicroKernel12x32.self, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
      alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
  }
}

/// `C = beta · C`, with `beta == 0` writing zeros (so NaN in C does not survive).
private func scaleMatrix(rows: Int, cols: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
  if beta == 1 { return }
  for i in 0..<rows {
    let row = c + i * ldc
    if beta == 0 {
      row.update(repeating: 0, count: cols)
    } else {
      for j in 0..<cols { row[j] *= beta }
    }
  }
}

/// Routes a one-row or one-column GEMM to the streaming kernel matching the operand's layout.
private func gemvDispatch(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  // The vector operand, its stride, the matrix and whether its rows run along k.
  let x: UnsafePointer<Float>
  let incx: Int
  let matrix: UnsafePointer<Float>
  let ld: Int
  let count: Int
  let rowsAlongK: Bool
  let incy: Int
  if m == 1 {
    (x, incx) = (a, transposeA ? lda : 1)
    (matrix, ld, count, rowsAlongK, incy) = (b, ldb, n, transposeB, 1)
  } else {
    (x, incx) = (b, transposeB ? 1 : ldb)
    (matrix, ld, count, rowsAlongK, incy) = (a, lda, m, !transposeA, ldc)
  }
  let body = { (xs: UnsafePointer<Float>) in
    if rowsAlongK {
      GEMV.dotRows(
        count: count, k: k, alpha: alpha, m: matrix, ld: ld, x: xs, beta: beta, y: c, incy: incy)
    } else {
      GEMV.axpyRows(
        count: count, k: k, alpha: alpha, m: matrix, ld: ld, x: xs, beta: beta, y: c, incy: incy)
    }
  }
  if incx == 1 {
    body(x)
  } else {
    // A strided vector is gathered once so the kernels can load it with SIMD.
    let xs = UnsafeMutablePointer<Float>.allocate(capacity: k)
    defer { xs.deallocate() }
    for p in 0..<k { xs[p] = x[p * incx] }
    body(xs)
  }
}

/// Floats `gemmPackB` writes for an `op(B)` of `k × n`: `n` rounded up to whole slivers, times `k`.
public func gemmPackedBCount(n: Int, k: Int) -> Int {
  (n + MicroKernel.nr - 1) / MicroKernel.nr * MicroKernel.nr * max(k, 1)
}

/// Packs `op(B)` (`k × n`; `Bᵀ` when `transposeB`, `B` stored with row stride `ldb`) once into the
/// layout the packed GEMM reads (`gemmPackedBCount(n:k:)` floats into `dst`), for `gemmPrepacked`:
/// a layer's weight, packed once and used for many calls.
public func gemmPackB(
  transposeB: Bool, n: Int, k: Int, b: UnsafePointer<Float>, ldb: Int, dst: UnsafeMutablePointer<Float>
) {
  PackedGEMM.packAllB(
    MicroKernel.self, source: .matrix(b, ld: ldb, transposed: transposeB), n: n, k: k, dst: dst)
}

/// `C = alpha · op(A) · op(B) + beta · C` with `op(B)` from `gemmPackB` (same `n`, `k`).
public func gemmPrepacked(
  transposeA: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
  packedB: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  if m <= 0 || n <= 0 { return }
  if k <= 0 || alpha == 0 {
    scaleMatrix(rows: m, cols: n, beta: beta, c: c, ldc: ldc)
    return
  }
  let padded = (n + MicroKernel.nr - 1) / MicroKernel.nr * MicroKernel.nr
  PackedGEMM.run(
    kernel: MicroKernel.self, transposeA: transposeA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
    source: .prepacked(packedB, paddedColumns: padded), beta: beta, c: c, ldc: ldc)
}

/// Floats `gemmPackA` writes for an `op(A)` of `m × k`: `m` rounded up to whole slivers, times `k`.
public func gemmPackedACount(m: Int, k: Int) -> Int {
  (m + MicroKernel.mr - 1) / MicroKernel.mr * MicroKernel.mr * max(k, 1)
}

/// Packs `op(A)` (`m × k`) once into the layout the packed GEMM reads (`gemmPackedACount(m:k:)`
/// floats into `dst`), for `gemmPrepackedA`.
public func gemmPackA(
  transposeA: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, dst: UnsafeMutablePointer<Float>
) {
  let mr = MicroKernel.mr
  let padded = (m + mr - 1) / mr * mr
  let kc = PackedGEMM.blockSize(k, limit: MicroKernel.kcMax, unit: 1)
  for pc in stride(from: 0, to: k, by: kc) {
    GEMMPacking.packA(
      MicroKernel.self, transposed: transposeA, a: a, lda: lda, rowStart: 0, rows: m, p0: pc,
      kc: min(kc, k - pc), dst: dst + pc * padded)
  }
}

/// `C = alpha · op(A) · op(B) + beta · C` with `op(A)` from `gemmPackA` (same `m`, `k`).
public func gemmPrepackedA(
  m: Int, n: Int, k: Int, alpha: Float, packedA: UnsafePointer<Float>, transposeB: Bool,
  b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  if m <= 0 || n <= 0 { return }
  if k <= 0 || alpha == 0 {
    scaleMatrix(rows: m, cols: n, beta: beta, c: c, ldc: ldc)
    return
  }
  let padded = (m + MicroKernel.mr - 1) / MicroKernel.mr * MicroKernel.mr
  PackedGEMM.run(
    kernel: MicroKernel.self, transposeA: false, m: m, n: n, k: k, alpha: alpha, a: packedA, lda: 1,
    source: .matrix(b, ld: ldb, transposed: transposeB), beta: beta, c: c, ldc: ldc,
    packedA: PrepackedA(pointer: packedA, paddedRows: padded))
}

/// A operand already packed by `gemmPackA`: slice `p0` at `p0 · paddedRows` floats.
struct PrepackedA {
  var pointer: UnsafePointer<Float>
  var paddedRows: Int
}

/// Where the packed GEMM reads its B operand from.
enum GEMMSourceB {
  /// A stored matrix: `op(B)` is `B` (`k×n`, row stride `ld`) or, when `transposed`, `Bᵀ`.
  case matrix(UnsafePointer<Float>, ld: Int, transposed: Bool)
  /// B already packed by `gemmPackB`: every `kc`-deep slice's `nr`-column slivers, slice `p0` at
  /// `p0 · paddedColumns` floats.
  case prepacked(UnsafePointer<Float>, paddedColumns: Int)
  /// `pack(colStart, cols, p0, kc, nr, dst)` writes `op(B)[p0..<p0+kc, colStart..<colStart+cols]` into
  /// `nr`-column slivers exactly as `GEMMPacking.packB` lays them out, zero-padding the last one.
  /// Called concurrently from several threads.
  case packer((Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void)
}

/// BLIS-style driver: for each `nc`-wide column block and `kc`-deep slice, B is packed into `nr`
/// slivers (L3), then for each `mc`-row block A is packed into `mr` slivers (L2), and the
/// micro-kernel sweeps tiles with one B sliver (L1) against every A sliver. A stored, untransposed
/// B skips the packing pass: the first tile on each sliver packs it as it reads (`runPackingB`).
enum PackedGEMM {
  /// Rows of one packed A block: `mc×kc` floats (≈ 120–180 KiB) in L2.
  static let mcMax = 120
  /// Columns of one packed B block: `kc×nc` floats (4 MiB) in L3. Wide, so weights (A) are
  /// repacked less often when many images share one GEMM.
  static let ncMax = 4096
  /// Cost of packing one element, in multiply-adds, for choosing how to split work over threads.
  static let packCost = 24
  /// Cost of waking a second thread, in multiply-adds (≈ 10 µs of one core).
  static let forkCost = 600_000

  static func run<K: GEMMMicroKernel>(
    kernel: K.Type, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    run(
      kernel: kernel, transposeA: transposeA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
      source: .matrix(b, ld: ldb, transposed: transposeB), beta: beta, c: c, ldc: ldc)
  }

  /// The packed GEMM with B read from `source`, a stored matrix or a packer that builds B's slivers
  /// on the fly (implicit im2col).
  static func run<K: GEMMMicroKernel>(
    kernel: K.Type, transposeA: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, source: GEMMSourceB,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, packedA: PrepackedA? = nil
  ) {
    let mr = K.mr
    let nr = K.nr
    let mSlivers = (m + mr - 1) / mr
    let nSlivers = (n + nr - 1) / nr
    var bPacked = false
    var bFused = false
    switch source {
    case .prepacked: bPacked = true
    case .matrix(_, _, let transposed): bFused = !transposed
    case .packer: break
    }
    let plan = threadPlan(
      kernel, m: m, n: n, k: k, aPacked: packedA != nil, bPacked: bPacked, bFused: bFused)
    if plan.sharesB {
      // B packed once by all threads, then tasks that split the rows read it.
      let padded = nSlivers * nr
      GEMMWorkspace.with(floats: padded * k) { shared in
        packAllB(kernel, source: source, n: n, k: k, dst: shared)
        run(
          kernel: kernel, transposeA: transposeA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
          source: .prepacked(shared, paddedColumns: padded), beta: beta, c: c, ldc: ldc, packedA: packedA)
      }
      return
    }
    let (tm, tn) = (plan.rowTasks, plan.columnTasks)
    // Each task owns a block of C and packs its own operands: one fork-join, no barriers.
    let task = { (t: Int) in
      let (ti, tj) = (t / tn, t % tn)
      let rowStart = min(m, mSlivers * ti / tm * mr)
      let rowEnd = min(m, mSlivers * (ti + 1) / tm * mr)
      let colStart = min(n, nSlivers * tj / tn * nr)
      let colEnd = min(n, nSlivers * (tj + 1) / tn * nr)
      if rowStart >= rowEnd || colStart >= colEnd { return }
      block(
        kernel: kernel, transposeA: transposeA, rows: rowStart..<rowEnd, cols: colStart..<colEnd, k: k,
        alpha: alpha, a: a, lda: lda, source: source, beta: beta, c: c, ldc: ldc, packedA: packedA)
    }
    if plan.dynamic {
      Parallel.forEachDynamic(tm * tn, task)
    } else {
      Parallel.forEach(tm * tn, task)
    }
  }

  /// Packs all of `op(B)` (`k × n`) from `source` into `dst` in `gemmPackB`'s layout (every `kc`
  /// slice's slivers, slice `p0` at `p0 · paddedColumns`), slices and column ranges on every thread.
  static func packAllB<K: GEMMMicroKernel>(
    _ kernel: K.Type, source: GEMMSourceB, n: Int, k: Int, dst: UnsafeMutablePointer<Float>
  ) {
    let nr = K.nr
    let padded = (n + nr - 1) / nr * nr
    let kc = blockSize(k, limit: K.kcMax, unit: 1)
    let slices = Array(stride(from: 0, to: k, by: kc))
    let columnTasks = max(1, min(padded / nr, 2 * Parallel.threadCount))
    Parallel.forEachDynamic(slices.count * columnTasks) { task in
      let (slice, part) = task.quotientAndRemainder(dividingBy: columnTasks)
      let pc = slices[slice]
      let kb = min(kc, k - pc)
      let first = padded / nr * part / columnTasks * nr
      let end = min(n, padded / nr * (part + 1) / columnTasks * nr)
      if first >= end { return }
      let out = dst + pc * padded + first / nr * kb * nr
      switch source {
      case .matrix(let b, let ldb, let transposed):
        GEMMPacking.packB(
          kernel, transposed: transposed, b: b, ldb: ldb, colStart: first, cols: end - first, p0: pc, kc: kb,
          dst: out)
      case .packer(let pack):
        pack(first, end - first, pc, kb, nr, out)
      case .prepacked:
        preconditionFailure("B is packed already")
      }
    }
  }

  /// How C is cut into tasks: a `rowTasks × columnTasks` grid, run one task per thread or, when
  /// `dynamic`, as more tasks than threads claimed as threads free up. With `sharesB`, B is first
  /// packed once by all threads and the GEMM then runs on the packed copy.
  struct ThreadPlan: Equatable {
    var rowTasks: Int
    var columnTasks: Int
    var dynamic: Bool
    var sharesB = false
  }

  /// B packed up front by all threads is kept to this many bytes (L3-resident; wider GEMMs balance
  /// well by columns anyway).
  static let sharedBBytes = 4 << 20

  /// Picks the task grid by a rough cost model: tile work of the busiest task (edge tiles at the
  /// kernel's edge-loop size), packing (the operand shared along a cut is packed once per task; an
  /// operand packed beforehand costs nothing) and the price of a fork. Twice as many tasks as threads
  /// is preferred when it costs little extra: if another process slows one core, the other thread
  /// then takes more of the work instead of waiting for it. Packing B once for all threads is chosen
  /// when that plus the best grid on packed B is cheaper (AlexNet's per-image conv4: 3 against 2½
  /// column slivers per thread otherwise).
  static func threadPlan<K: GEMMMicroKernel>(
    _ kernel: K.Type, m: Int, n: Int, k: Int, aPacked: Bool = false, bPacked: Bool = false,
    bFused: Bool = false
  ) -> ThreadPlan {
    let threads = max(1, Parallel.threadCount)
    // B packed inside the kernel's loop (`runPackingB`) is never shared; the grid still counts its
    // packing, as each task reads its part of B from memory either way.
    let fused = bFused && m >= K.mr
    let (best, cost) = bestGrid(kernel, m: m, n: n, k: k, aPacked: aPacked, bPacked: bPacked)
    let sharedFloats = (n + K.nr - 1) / K.nr * K.nr * k
    if !bPacked && !fused && threads > 1 && sharedFloats * 4 <= sharedBBytes {
      var (shared, sharedCost) = bestGrid(kernel, m: m, n: n, k: k, aPacked: aPacked, bPacked: true)
      sharedCost += (sharedFloats * packCost + threads - 1) / threads + forkCost
      if sharedCost < cost {
        shared.sharesB = true
        return shared
      }
    }
    return best
  }

  /// The cheapest task grid and its modelled cost (see `threadPlan`).
  private static func bestGrid<K: GEMMMicroKernel>(
    _ kernel: K.Type, m: Int, n: Int, k: Int, aPacked: Bool, bPacked: Bool
  ) -> (ThreadPlan, Int) {
    let (mr, nr) = (K.mr, K.nr)
    let mSlivers = (m + mr - 1) / mr
    let nSlivers = (n + nr - 1) / nr
    let threads = max(1, Parallel.threadCount)
    let roundUp = { (x: Int, unit: Int) in (x + unit - 1) / unit * unit }
    // Busiest task of a tm × tn grid, cut at slivers exactly as `run` cuts.
    func taskCost(_ tm: Int, _ tn: Int) -> Int {
      var worst = 0
      for ti in 0..<tm {
        let rows = min(m, mSlivers * (ti + 1) / tm * mr) - min(m, mSlivers * ti / tm * mr)
        for tj in 0..<tn {
          let cols = min(n, nSlivers * (tj + 1) / tn * nr) - min(n, nSlivers * tj / tn * nr)
          let columnBlocks = (cols + ncMax - 1) / ncMax
          let packed = (aPacked ? 0 : roundUp(rows, mr) * columnBlocks) + (bPacked ? 0 : roundUp(cols, nr))
          worst = max(
            worst, roundUp(rows, K.edgeRows) * roundUp(cols, K.edgeCols) * k + packed * k * packCost)
        }
      }
      return worst
    }
    var best = ThreadPlan(rowTasks: 1, columnTasks: 1, dynamic: false)
    var bestCost = Int.max
    var bestDynamic = best
    var bestDynamicCost = Int.max
    let counts = threads > 1 ? Array(1...threads) + [2 * threads] : [1]
    for tasks in counts {
      for tm in 1...tasks where tasks % tm == 0 {
        let tn = tasks / tm
        if tm > mSlivers || tn > nSlivers { continue }
        let rounds = (tasks + threads - 1) / threads
        let cost = rounds * taskCost(tm, tn) + (tasks > 1 ? forkCost : 0)
        if tasks > threads {
          if cost < bestDynamicCost {
            (bestDynamic, bestDynamicCost) = (ThreadPlan(rowTasks: tm, columnTasks: tn, dynamic: true), cost)
          }
        } else if cost < bestCost {
          (best, bestCost) = (ThreadPlan(rowTasks: tm, columnTasks: tn, dynamic: false), cost)
        }
      }
    }
    // Up to 4 % more modelled work buys balance under outside load.
    if best.rowTasks * best.columnTasks == threads && bestDynamicCost <= bestCost + bestCost / 25 {
      return (bestDynamic, bestDynamicCost)
    }
    return (best, bestCost)
  }

  /// Balanced block size: splits `total` into equal blocks of at most `limit`, rounded up to `unit`.
  @inline(__always)
  static func blockSize(_ total: Int, limit: Int, unit: Int) -> Int {
    let blocks = (total + limit - 1) / limit
    let size = (total + blocks - 1) / blocks
    return (size + unit - 1) / unit * unit
  }

  /// Serial packed GEMM on the block `rows × cols` of C over the full depth `k`.
  static func block<K: GEMMMicroKernel>(
    kernel: K.Type, transposeA: Bool, rows: Range<Int>, cols: Range<Int>, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, source: GEMMSourceB,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, packedA prepacked: PrepackedA? = nil
  ) {
    let mr = K.mr
    let nr = K.nr
    let kc = blockSize(k, limit: K.kcMax, unit: 1)
    let mc = blockSize(rows.count, limit: mcMax, unit: mr)
    let nc = blockSize(cols.count, limit: ncMax, unit: nr)
    // Each region starts on a 64-byte boundary.
    let sizeA = (mc * kc + 15) / 16 * 16
    let sizeB = (nc * kc + 15) / 16 * 16
    GEMMWorkspace.with(floats: sizeA + sizeB + mr * nr) { workspace in
      let packedA = workspace
      let packedB = workspace + sizeA
      let scratch = packedB + sizeB
      for jc in stride(from: cols.lowerBound, to: cols.upperBound, by: nc) {
        let nb = min(nc, cols.upperBound - jc)
        for pc in stride(from: 0, to: k, by: kc) {
          let kb = min(kc, k - pc)
          // Later slices add onto what the first wrote.
          let sliceBeta = pc == 0 ? beta : 1
          var slivers = UnsafePointer(packedB)
          // Full slivers of a stored B are packed by the first tile that reads them.
          var fusedCols = 0
          var fused: (b: UnsafePointer<Float>, ld: Int)?
          switch source {
          case .matrix(let b, let ldb, let transposed):
            if !transposed && rows.count >= mr {
              fusedCols = nb / nr * nr
              fused = (b + pc * ldb + jc, ldb)
            }
            GEMMPacking.packB(
              kernel, transposed: transposed, b: b, ldb: ldb, colStart: jc + fusedCols, cols: nb - fusedCols,
              p0: pc, kc: kb, dst: packedB + fusedCols * kb)
          case .prepacked(let b, let paddedColumns):
            slivers = b + pc * paddedColumns + jc / nr * kb * nr
          case .packer(let pack):
            pack(jc, nb, pc, kb, nr, packedB)
          }
          for ic in stride(from: rows.lowerBound, to: rows.upperBound, by: mc) {
            let mb = min(mc, rows.upperBound - ic)
            var rowSlivers = UnsafePointer(packedA)
            if let prepacked {
              rowSlivers = prepacked.pointer + pc * prepacked.paddedRows + ic / mr * kb * mr
            } else {
              GEMMPacking.packA(
                kernel, transposed: transposeA, a: a, lda: lda, rowStart: ic, rows: mb, p0: pc, kc: kb,
                dst: packedA)
            }
            for jr in stride(from: 0, to: nb, by: nr) {
              let bs = slivers + jr * kb
              let w = min(nr, nb - jr)
              for ir in stride(from: 0, to: mb, by: mr) {
                if let fused, jr < fusedCols, ir == 0, ic == rows.lowerBound {
                  K.runPackingB(
                    kc: kb, a: rowSlivers, b: fused.b + jr, ldb: fused.ld, packed: packedB + jr * kb,
                    c: c + ic * ldc + jc + jr, ldc: ldc, alpha: alpha, beta: sliceBeta)
                  continue
                }
                K.run(
                  kc: kb, a: rowSlivers + ir * kb, b: bs, c: c + (ic + ir) * ldc + jc + jr, ldc: ldc,
                  rows: min(mr, mb - ir), cols: w, alpha: alpha, beta: sliceBeta, scratch: scratch)
              }
            }
          }
        }
      }
    }
  }
}
