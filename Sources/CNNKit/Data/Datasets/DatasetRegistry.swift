import Foundation

/// Opens a dataset by the name the command line uses (`cnnkit train --dataset cifar10 --data DIR`).
///
/// | name            | type                      | `root` holds                                          |
/// |-----------------|---------------------------|-------------------------------------------------------|
/// | `mnist`         | `MNISTDataset`            | `train-images-idx3-ubyte[.gz]`, `t10k-…` (4 files)    |
/// | `fashion-mnist` | `MNISTDataset`            | the same file names, Fashion-MNIST class names         |
/// | `cifar10`       | `CIFARDataset`            | `data_batch_1…5.bin[.gz]` (any present), `test_batch.bin` |
/// | `cifar100`      | `CIFARDataset`            | `train.bin[.gz]`, `test.bin[.gz]`                     |
/// | `imagefolder`   | `ImageFolderDataset`      | `train/<class>/…` and `val/<class>/…`                 |
/// | `digits`        | `DigitsDataset`           | `digits.csv[.gz]` (or `root` is that file); 80/20 split |
public enum Datasets {
  /// The names `open` accepts, in the order help texts list them.
  public static let names = ["mnist", "fashion-mnist", "cifar10", "cifar100", "imagefolder", "digits"]

  /// Opens the `train` split of dataset `name` in `root`, or its test/validation split when `train`
  /// is false. Names are matched ignoring case, `-` and `_` (`CIFAR-10` works). `skipCorrupt` applies
  /// to `imagefolder` (see `ImageFolderDataset`); the other formats are validated when opened.
  public static func open(name: String, root: String, train: Bool, skipCorrupt: Bool = false) throws
    -> any ImageDataset
  {
    let key = name.lowercased().filter { $0 != "-" && $0 != "_" }
    let manager = FileManager.default
    guard manager.fileExists(atPath: root) else {
      throw DataError.unreadable(
        path: root, reason: "no such file or folder (data root for dataset '\(name)')")
    }
    switch key {
    case "mnist":
      return try MNISTDataset(root: root, train: train, variant: .mnist)
    case "fashionmnist":
      return try MNISTDataset(root: root, train: train, variant: .fashionMNIST)
    case "cifar10":
      return try CIFARDataset(root: root, train: train, variant: .cifar10)
    case "cifar100":
      return try CIFARDataset(root: root, train: train, variant: .cifar100)
    case "imagefolder":
      let folder = root + "/" + (train ? "train" : "val")
      guard manager.fileExists(atPath: folder) else {
        throw DataError.badLayout(
          path: folder,
          reason: "missing: dataset 'imagefolder' expects <root>/train and <root>/val class folders")
      }
      return try ImageFolderDataset(root: folder, skipCorrupt: skipCorrupt)
    case "digits":
      var isFolder: ObjCBool = false
      _ = manager.fileExists(atPath: root, isDirectory: &isFolder)
      var path = root
      if isFolder.boolValue {
        guard
          let found = ["digits.csv.gz", "digits.csv"].map({ root + "/" + $0 }).first(
            where: manager.fileExists)
        else {
          throw DataError.badLayout(
            path: root, reason: "no digits.csv[.gz] (dataset 'digits') in this folder")
        }
        path = found
      }
      return try DigitsDataset(path: path, split: train ? .train : .test)
    default:
      let hint = closestName(to: name, among: names).map { " did you mean '\($0)'?" } ?? ""
      throw DataError.invalidOption(
        "unknown dataset '\(name)';\(hint) known: \(names.joined(separator: ", "))")
    }
  }
}
