// MQTT.js 5, unchanged from npm (its browser build, which the bundler takes
// for a component), through the features its users touch first: connect,
// subscribe, publish text and binary, keepalive, reconnect after the broker
// drops the connection, and a clean end.
//
// Usage: app MQTT_WS_URL (aedes over ws: tests/guests/js-mqtt/server.mjs)

import mqtt from 'mqtt';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main((args) => {
  // keepalive 1 s: a ping when a second passes without a packet sent.
  const client = mqtt.connect(args[1], { keepalive: 1, reconnectPeriod: 100, connectTimeout: 5000 });
  let connects = 0;
  let pings = 0;
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'pingresp') pings += 1;
  });
  client.on('connect', () => {
    connects += 1;
    console.log(`connect ${connects} ${client.options.clientId.startsWith('mqttjs_')}`);
    if (connects === 1) {
      client.subscribe('t/#', { qos: 1 }, (error, granted) => {
        console.log(`subscribed ${error ?? granted.map((g) => `${g.topic} qos ${g.qos}`).join(', ')}`);
        client.publish('t/text', 'hello from a component', { qos: 1 });
        client.publish('t/binary', new Uint8Array([0, 1, 2, 254, 255]), { qos: 1 });
      });
    } else {
      // Its subscription restored by MQTT.js itself.
      client.publish('t/after', 'back again', { qos: 1 });
    }
  });
  client.on('message', (topic, payload) => {
    const shown = topic === 't/binary' ? [...payload].join(',') : payload.toString();
    console.log(`message ${topic} ${shown}`);
    if (topic === 't/binary') {
      // Idle for 2.5 s: keepalive pings go out and are answered.
      setTimeout(() => {
        console.log(`pings answered ${pings >= 1}`);
        client.publish('ctl/drop', 'drop me');
      }, 2500);
    }
    if (topic === 't/after') client.end(false, () => console.log('end'));
  });
  client.on('reconnect', () => console.log('reconnecting'));
  client.on('offline', () => console.log('offline'));
  client.on('error', (error) => console.log(`error ${error.message}`));
});
