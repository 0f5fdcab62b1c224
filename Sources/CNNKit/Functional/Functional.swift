/// Stateless differentiable operations, as PyTorch's `torch.nn.functional`. Layers call these.
public enum Functional {}
