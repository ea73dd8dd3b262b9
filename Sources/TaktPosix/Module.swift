// Module TaktPosix.
