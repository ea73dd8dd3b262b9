// Module TaktWire.
