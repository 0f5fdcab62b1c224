import Foundation

// Every sentence `LayerExplanation` writes, once per language. The arithmetic (numbers, formulas) is
// computed by the caller and passed in, so it reads the same in every language; only the prose around
// it is translated. The switches are exhaustive: a new message cannot ship without all its languages.

extension LayerExplanation {
  /// The language the explanation is written in (the raw values are the CLI's `--lang` words).
  public enum Language: String, CaseIterable, Sendable {
    /// English.
    case en
    /// Korean, in the vocabulary of Korean CNN study notes (필터, 패딩, 스트라이드, 파라미터 …).
    case ko
  }

  /// The layer families the closing shares are grouped by, largest share first when printed.
  enum Kind: CaseIterable {
    case fullyConnected, convolution, batchNorm, other
  }

  /// One message of the explanation; `Language.text(_:)` renders it.
  enum Phrase {
    // Header and legend.
    case header(sample: String)
    case outputSizeLegend
    case parameterLegend
    // Labels that open an arithmetic line (`height, width:`), colon included.
    case heightAndWidthLabel, heightLabel, widthLabel, outputLabel, parametersLabel, macsLabel
    // Notes within arithmetic lines.
    case noBias
    case roundedDown(exact: String)
    case roundedUp(exact: String)
    case shapeUnchanged
    // Whole lines.
    case calledAgain(ownsParameters: Bool)
    case flattenedInForward(kerasRow: String?)
    case foldedActivation(into: String, activation: String)
    case maxPool(window: String)
    case avgPool(window: String)
    case adaptivePool(input: String, target: String, alreadyThatSize: Bool)
    case batchNormParameters(c: Int)
    case batchNormToolCounts(c: Int)
    case batchNormKeras(c: Int)
    case relu(shape: String)
    case dropout(p: String)
    case flatten(factors: String, features: String)
    case lrn(size: Int, k: String, alpha: String, beta: String, shape: String)
    /// `paper`: this layer's α is the paper's (not divided by n); otherwise PyTorch's.
    case lrnConvention(paper: Bool, alpha: String, size: Int)
    case lrnOtherConvention(paper: Bool, size: Int)
    case lrnConversion(paper: Bool, alpha: String, size: Int, times: String, divided: String)
    case softmax(classes: Int)
    case logSoftmax(classes: Int)
    case block(shape: String, own: String)
    case noParameters
    // Closing lines.
    case parametersHeading(total: String)
    case kind(Kind)
    case biggestLayer(layer: String, count: String, share: String)
    case work(macs: String, shares: String)
    case parametersInFCWorkInConv
  }
}

extension LayerExplanation.Language {
  /// `phrase` in this language.
  func text(_ phrase: LayerExplanation.Phrase) -> String {
    switch self {
    case .en: return Self.english(phrase)
    case .ko: return Self.korean(phrase)
    }
  }

  private static func english(_ phrase: LayerExplanation.Phrase) -> String {
    switch phrase {
    case .header(let sample): return "Layer arithmetic for input \(sample) (MACs per sample):"
    case .outputSizeLegend:
      return "output size: I' = (I − F + 2P)/S + 1 (I input size, F filter size, P padding, S stride)"
    case .parameterLegend:
      return "parameters: (F·F·C + 1)·filters for a conv (C input channels, + 1 each filter's bias), "
        + "(inputs + 1)·outputs for a linear layer"
    case .heightAndWidthLabel: return "height, width:"
    case .heightLabel: return "height:"
    case .widthLabel: return "width:"
    case .outputLabel: return "output:"
    case .parametersLabel: return "parameters:"
    case .macsLabel: return "MACs:"
    case .noBias: return "(no bias)"
    case .roundedDown(let exact): return "(rounded down from \(exact))"
    case .roundedUp(let exact): return "(ceil mode, rounded up from \(exact))"
    case .shapeUnchanged: return "(shape unchanged)"
    case .calledAgain(let owns):
      return owns
        ? "called again (the same module): its parameters count once" : "called again (the same module)"
    case .flattenedInForward(let row):
      return "input flattened in forward()" + (row.map { " (Keras row \($0))" } ?? "") + ":"
    case .foldedActivation(let layer, let activation):
      return "Keras folds it into \(layer) as activation='\(activation)': no row of its own"
    case .maxPool(let window): return "no parameters: pooling takes a max over each \(window) window"
    case .avgPool(let window): return "no parameters: pooling averages each \(window) window"
    case .adaptivePool(let input, let target, let already):
      return "no parameters: averages the \(input) map into a fixed \(target) grid"
        + (already ? "; the input is already \(target), so each bin is a single value" : "")
    case .batchNormParameters(let c):
      return "parameters: 2·C = 2·\(c) = \(SummaryText.grouped(2 * c)) trainable (γ, β) + 2·C = "
        + "\(SummaryText.grouped(2 * c)) running statistics (mean, variance: buffers, not trained)"
    case .batchNormToolCounts(let c):
      return "PyTorch tools count \(SummaryText.grouped(2 * c)); Keras counts \(SummaryText.grouped(4 * c)), "
        + "\(SummaryText.grouped(2 * c)) of them non-trainable"
    case .batchNormKeras(let c):
      return "Keras counts 4 per channel: 4·C = 4·\(c) = \(SummaryText.grouped(4 * c)), its Param #; γ and β "
        + "train, moving_mean and moving_variance (2·C = \(SummaryText.grouped(2 * c))) are non-trainable"
    case .relu(let shape): return "no parameters: max(0, x) elementwise, shape unchanged (\(shape))"
    case .dropout(let p):
      return "no parameters: in training zeroes each value with probability \(p) and scales the rest by "
        + "1/(1 − p); identity at inference"
    case .flatten(let factors, let features): return "no parameters: \(factors) = \(features) features"
    case .lrn(let size, let k, let alpha, let beta, let shape):
      return "no parameters: each value is normalised over \(size) neighbouring channels with fixed "
        + "k = \(k), α = \(alpha), β = \(beta); shape unchanged (\(shape))"
    case .lrnConvention(let paper, let alpha, let size):
      return paper
        ? "α convention: α = \(alpha) is the 2012 paper's, not divided by n: b = a / (k + α·Σa²)^β"
        : "α convention: α = \(alpha) is PyTorch's, divided by n = \(size) inside: b = a / (k + α/n·Σa²)^β"
    case .lrnOtherConvention(let paper, let size):
      return paper
        ? "PyTorch's nn.LocalResponseNorm divides α by n = \(size) inside: b = a / (k + α/n·Σa²)^β"
        : "the 2012 AlexNet paper writes b = a / (k + α·Σa²)^β, α not divided by n"
    case .lrnConversion(let paper, let alpha, let size, let times, let divided):
      let timesText = "\(times) (= \(alpha)·\(size))"
      let dividedText = "\(divided) (= \(alpha)/\(size))"
      return paper
        ? "so in PyTorch this layer is alpha=\(timesText); copying the paper's alpha=\(alpha) into PyTorch "
          + "gives the paper's α = \(dividedText)"
        : "so this layer is the paper's α = \(dividedText); the paper's α = \(alpha) would be "
          + "alpha=\(timesText) here"
    case .softmax(let classes): return "no parameters: turns \(classes) scores into probabilities"
    case .logSoftmax(let classes): return "no parameters: turns \(classes) scores into log-probabilities"
    case .block(let shape, let own):
      return "output: \(shape); a block whose layers follow (own parameters: \(own))"
    case .noParameters: return "no parameters"
    case .parametersHeading(let total): return "Where the parameters are (\(total) in all):"
    case .kind(let kind):
      switch kind {
      case .fullyConnected: return "fully connected"
      case .convolution: return "convolutions"
      case .batchNorm: return "batch norm"
      case .other: return "other layers"
      }
    case .biggestLayer(let layer, let count, let share):
      return "biggest layer: \(layer) with \(count) (\(share) of all)"
    case .work(let macs, let shares): return "Where the work is (\(macs) MACs per sample): \(shares)"
    case .parametersInFCWorkInConv:
      return "Most parameters sit in the fully connected layers, most of the work in the convolutions: "
        + "a filter's weights are shared by every position of the feature map."
    }
  }

  private static func korean(_ phrase: LayerExplanation.Phrase) -> String {
    switch phrase {
    case .header(let sample): return "입력 \(sample) 기준 층별 계산 (MAC은 샘플 1개당):"
    case .outputSizeLegend:
      return "출력 크기: I' = (I − F + 2P)/S + 1 (I: 입력 크기, F: 필터 크기, P: 패딩, S: 스트라이드)"
    case .parameterLegend:
      return "파라미터 수: Conv는 (F·F·C + 1)·필터 수 (C: 입력 채널 수, + 1: 필터마다 하나인 bias), "
        + "Linear는 (입력 노드 수 + 1)·출력 노드 수"
    case .heightAndWidthLabel: return "출력 크기 (높이, 너비):"
    case .heightLabel: return "출력 높이:"
    case .widthLabel: return "출력 너비:"
    case .outputLabel: return "출력:"
    case .parametersLabel: return "파라미터:"
    case .macsLabel: return "연산량(MAC):"
    case .noBias: return "(bias 없음)"
    case .roundedDown(let exact): return "(\(exact)에서 내림)"
    case .roundedUp(let exact): return "(ceil mode: \(exact)에서 올림)"
    case .shapeUnchanged: return "(크기 변화 없음)"
    case .calledAgain(let owns):
      return owns ? "다시 호출됨 (같은 모듈): 파라미터는 한 번만 센다" : "다시 호출됨 (같은 모듈)"
    case .flattenedInForward(let row):
      return "forward()에서 입력을 1차원으로 펼침" + (row.map { " (Keras의 \($0) 행)" } ?? "") + ":"
    case .foldedActivation(let layer, let activation):
      return "Keras에서는 \(layer)의 activation='\(activation)'로 합쳐져 별도의 행이 없다"
    case .maxPool(let window):
      return "파라미터 없음: 풀링은 \(window) 창마다 최댓값을 고를 뿐이라 업데이트할 가중치가 존재하지 않는다"
    case .avgPool(let window):
      return "파라미터 없음: 풀링은 \(window) 창마다 평균을 낼 뿐이라 업데이트할 가중치가 존재하지 않는다"
    case .adaptivePool(let input, let target, let already):
      return "파라미터 없음: \(input) feature map을 고정된 \(target) 격자로 평균 낼 뿐이다"
        + (already ? " (입력이 이미 \(target) 크기라 칸마다 값이 하나뿐이다)" : "")
    case .batchNormParameters(let c):
      return "파라미터: 2·C = 2·\(c) = \(SummaryText.grouped(2 * c)) 학습 대상 (γ, β) + 2·C = "
        + "\(SummaryText.grouped(2 * c)) running 통계 (평균, 분산: 학습하지 않는 buffer)"
    case .batchNormToolCounts(let c):
      return "PyTorch 도구는 \(SummaryText.grouped(2 * c))개로 세고, Keras는 \(SummaryText.grouped(4 * c))개로 "
        + "세며 그중 \(SummaryText.grouped(2 * c))개는 학습하지 않는(non-trainable) 값이다"
    case .batchNormKeras(let c):
      return "Keras는 채널마다 4개씩 센다: 4·C = 4·\(c) = \(SummaryText.grouped(4 * c)) (표의 Param #); "
        + "γ, β는 학습 대상이고 moving_mean, moving_variance(2·C = \(SummaryText.grouped(2 * c)))는 "
        + "학습하지 않는(non-trainable) 값이다"
    case .relu(let shape):
      return "파라미터 없음: 활성화 함수 ReLU는 원소마다 max(0, x)를 취할 뿐이라 업데이트할 가중치가 "
        + "존재하지 않는다 (출력 크기 \(shape) 그대로)"
    case .dropout(let p):
      return "파라미터 없음: 학습 중에는 각 값을 \(p)의 확률로 0으로 만들고 나머지 값은 1/(1 − p)배로 키우며, "
        + "추론 때는 입력을 그대로 내보낸다"
    case .flatten(let factors, let features):
      return "파라미터 없음: \(factors) = \(features)개 값을 1차원으로 펼칠 뿐이다"
    case .lrn(let size, let k, let alpha, let beta, let shape):
      return "파라미터 없음: 각 값을 이웃한 채널 \(size)개에 걸쳐 정규화할 뿐이고 "
        + "k = \(k), α = \(alpha), β = \(beta) 모두 학습하지 않는 고정값이다 (출력 크기 \(shape) 그대로)"
    case .lrnConvention(let paper, let alpha, let size):
      let subject = "α 규약: 이 층의 α = \(alpha)\(Josa.topic.after(alpha))"
      return paper
        ? subject + " 2012년 논문의 값이라 n으로 나누지 않는다: b = a / (k + α·Σa²)^β"
        : subject + " PyTorch 방식이라 내부에서 n = \(size)\(Josa.direction.after("\(size)")) 나뉜다: "
          + "b = a / (k + α/n·Σa²)^β"
    case .lrnOtherConvention(let paper, let size):
      return paper
        ? "PyTorch의 nn.LocalResponseNorm은 내부에서 α를 n = \(size)\(Josa.direction.after("\(size)")) 나눈다: "
          + "b = a / (k + α/n·Σa²)^β"
        : "2012년 AlexNet 논문은 α를 n으로 나누지 않고 b = a / (k + α·Σa²)^β로 쓴다"
    case .lrnConversion(let paper, let alpha, let size, let times, let divided):
      let timesText = "\(times) (= \(alpha)·\(size))"
      let dividedText = "\(divided) (= \(alpha)/\(size))"
      return paper
        ? "따라서 이 층을 PyTorch로 옮기려면 alpha=\(timesText)\(Josa.direction.after(timesText)) 써야 하고, "
          + "논문 값 alpha=\(alpha)\(Josa.object.after(alpha)) PyTorch에 그대로 넣으면 논문 기준으로는 "
          + "α = \(dividedText)\(Josa.subject.after(dividedText)) 된다"
        : "따라서 이 층은 논문 기준으로 α = \(dividedText)에 해당하고, 논문의 α = \(alpha)"
          + "\(Josa.object.after(alpha)) 재현하려면 alpha=\(timesText)\(Josa.direction.after(timesText)) "
          + "써야 한다"
    case .softmax(let classes): return "파라미터 없음: 점수 \(classes)개를 확률로 바꿀 뿐이다"
    case .logSoftmax(let classes): return "파라미터 없음: 점수 \(classes)개를 로그 확률로 바꿀 뿐이다"
    case .block(let shape, let own):
      return "출력: \(shape); 아래 층들로 이루어진 블록 (블록 자체의 파라미터: \(own))"
    case .noParameters: return "파라미터 없음"
    case .parametersHeading(let total): return "파라미터가 몰린 곳 (전체 \(total)개):"
    case .kind(let kind):
      switch kind {
      case .fullyConnected: return "완전연결(FC) 층"
      case .convolution: return "합성곱(Conv) 층"
      case .batchNorm: return "배치 정규화(BatchNorm)"
      case .other: return "그 밖의 층"
      }
    case .biggestLayer(let layer, let count, let share):
      return "가장 큰 층: \(layer), \(count)개 (전체의 \(share))"
    case .work(let macs, let shares): return "연산이 몰린 곳 (샘플 1개당 MAC \(macs)회): \(shares)"
    case .parametersInFCWorkInConv:
      return "파라미터는 완전연결(FC) 층에 압도적으로 많지만 연산은 대부분 합성곱(Conv) 층에서 일어난다: "
        + "필터 하나의 가중치를 feature map의 모든 위치에서 공유하기 때문이다."
    }
  }
}

/// Korean particles whose form depends on whether the word before ends in a consonant (받침): 은/는,
/// 이/가, 을/를, 으로/로 (로 also after ㄹ). Only numbers and Hangul come before them here; a number is
/// read the Sino-Korean way, so it ends as its last digit does (1 일, 3 삼 …) or, ending in 0, as
/// 영/십/백/천/만 — all with a consonant other than ㄹ.
enum Josa {
  case topic, subject, object, direction

  /// The particle's form after `word` (closing brackets and other punctuation skipped).
  func after(_ word: String) -> String {
    let last = word.unicodeScalars.last { $0.properties.isAlphabetic || ("0"..."9").contains($0) }
    var consonant = false
    var rieul = false
    if let scalar = last {
      switch scalar.value {
      case 0xAC00...0xD7A3:
        let final = (scalar.value - 0xAC00) % 28
        consonant = final != 0
        rieul = final == 8
      case 0x30...0x39:
        let digit = scalar.value - 0x30
        consonant = [0, 1, 3, 6, 7, 8].contains(digit)
        rieul = [1, 7, 8].contains(digit)
      default: break
      }
    }
    switch self {
    case .topic: return consonant ? "은" : "는"
    case .subject: return consonant ? "이" : "가"
    case .object: return consonant ? "을" : "를"
    case .direction: return consonant && !rieul ? "으로" : "로"
    }
  }
}
