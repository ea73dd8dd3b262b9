// Registry records: the factory's sites, workers and workstations.

public struct WorkerRecord: Sendable, Hashable {
    public var siteID: String
    public var workerID: String
    public var name: String
    public var shift: String
    public var department: String
    public init(siteID: String = Event.defaultSite, workerID: String, name: String = "", shift: String = "",
                department: String = "") {
        self.siteID = siteID
        self.workerID = workerID
        self.name = name
        self.shift = shift
        self.department = department
    }
}

public struct WorkstationRecord: Sendable, Hashable {
    public var siteID: String
    public var workstationID: String
    public var name: String
    public var location: String
    public var type: String
    public init(siteID: String = Event.defaultSite, workstationID: String, name: String = "", location: String = "",
                type: String = "") {
        self.siteID = siteID
        self.workstationID = workstationID
        self.name = name
        self.location = location
        self.type = type
    }
}

public struct SiteRecord: Sendable, Hashable {
    public var siteID: String
    public var workers: Int
    public var workstations: Int
    public init(siteID: String, workers: Int, workstations: Int) {
        self.siteID = siteID
        self.workers = workers
        self.workstations = workstations
    }
}
