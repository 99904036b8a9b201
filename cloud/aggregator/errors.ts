// The aggregator's error class, shared by its parts (the subscriber throws most of them).
import { CustomsError } from '../../common/errors.js';

/** Codes: E_STATE (started twice), E_CONFIG (a PEM file unreadable), E_MQTT_CONNECT, E_MQTT_SUBSCRIBE. */
export class AggregatorError extends CustomsError {}
