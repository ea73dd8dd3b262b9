// Module TaktProto.
