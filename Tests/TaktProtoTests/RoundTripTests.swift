import Testing
@testable import TaktProto
