// Module TaktClient.
