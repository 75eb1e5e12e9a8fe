// The component's one way to talk to Python: one trigger value named "event" per gesture.
// Every event carries the mount's client id and a sequence number, so Python applies each (client, seq) once.

export function makeSender() {
  const client = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  let seq = 0;
  let setTriggerValue = null;
  return {
    bind(fn) {
      setTriggerValue = fn; // the latest mount call's setter
    },
    send(kind, fields = {}) {
      seq += 1;
      const event = { client, seq, kind, ...fields };
      if (setTriggerValue) setTriggerValue("event", event);
      return event;
    },
  };
}
