// Module TaktServer.
