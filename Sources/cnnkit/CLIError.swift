import ArgumentParser
import CNNKit
import Foundation

/// A user mistake reported as one `error: …` line on stderr, then exit status 64 (EX_USAGE).
///
/// ArgumentParser's own `ValidationError` would append the usage text; these errors are about
/// values that parsed fine but do not make sense (unknown model, a bad shape), so one line is kinder.
struct CLIError: Error, CustomStringConvertible {
  let description: String

  init(_ description: String) { self.description = description }

  /// Prints the message and returns the exit code to throw.
  func report() -> ExitCode {
    let world = Distributed.current
    guard world.size > 1 else {
      FileHandle.standardError.write(Data("error: \(description)\n".utf8))
      return ExitCode.validationFailure
    }
    // The other processes may wait in an exchange this one will never join: stop them all.
    FileHandle.standardError.write(Data("error: rank \(world.rank) of \(world.size): \(description)\n".utf8))
    world.abort(code: ExitCode.validationFailure.rawValue)
  }

  /// Runs `body`, turning any library error into a `CLIError` with the same message.
  @discardableResult
  static func wrap<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as CLIError {
      throw error
    } catch {
      throw CLIError("\(error)")
    }
  }

  /// Runs `body`, naming `flag` in front of any library error: `--resize: size must be N or H,W ...`.
  @discardableResult
  static func wrap<T>(flag: String, _ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as CLIError {
      throw error
    } catch {
      throw CLIError("\(flag): \(error)")
    }
  }
}
