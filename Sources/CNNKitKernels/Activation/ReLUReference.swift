// ReLU one element at a time, the references the SIMD and bit-mask kernels in ReLU.swift are tested
// against. Same contracts and argument lists. Slow on purpose.

/// The reference `reluForward`: `y = x` where `x > 0`, NaN stays NaN (as in PyTorch), anything else
/// (−0 included) becomes +0. `output` may be `input`.
public func reluForwardReference(count: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>)
{
  for i in 0..<count {
    let x = input[i]
    if x.isNaN {
      output[i] = x
    } else if x > 0 {
      output[i] = x
    } else {
      output[i] = 0
    }
  }
}

/// The reference `reluBackward`: `dx = dy` where the forward output is positive, else 0 (a NaN
/// output is not positive, so its gradient is 0). `gradInput` may be `gradOutput`.
public func reluBackwardReference(
  count: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  for i in 0..<count {
    gradInput[i] = output[i] > 0 ? gradOutput[i] : 0
  }
}
