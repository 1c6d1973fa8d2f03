// A module whose top level needs the run: it parses settings only a run
// gives, when it is evaluated, which is when the component is built.
export const settings = JSON.parse(globalThis.SETTINGS_FROM_THE_RUN ?? '{"broken": ');
