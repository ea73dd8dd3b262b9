// Module TaktSimulation.
