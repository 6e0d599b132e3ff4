use super::*;

fn fake_sysfs() -> (PathBuf, Sysfs) {
    let root = std::env::temp_dir().join(format!(
        "wd-sysfs-{}-{}",
        std::process::id(),
        new_uuid().unwrap()
    ));
    let parent = root.join("class/sdmdev/softzip");
    fs::create_dir_all(parent.join("params")).unwrap();
    fs::write(parent.join("params/iommu_type"), "3\n").unwrap();
    fs::write(parent.join("params/dma_flag"), "2\n").unwrap();
    for (id, name, flags, avail) in [
        ("softzip-comp", "comp", 1, 2),
        ("softzip-decomp", "decomp", 2, 0),
    ] {
        let t = parent.join("device/mdev_supported_types").join(id);
        fs::create_dir_all(&t).unwrap();
        fs::write(t.join("name"), format!("{name}\n")).unwrap();
        fs::write(t.join("device_api"), "hisi_qm_v1\n").unwrap();
        fs::write(t.join("available_instances"), format!("{avail}\n")).unwrap();
        fs::write(t.join("flags"), format!("{flags}\n")).unwrap();
        fs::write(t.join("create"), "").unwrap();
    }
    let groups = root.join("kernel/iommu_groups/7");
    fs::create_dir_all(&groups).unwrap();
    let dev = root.join("bus/mdev/devices/1234");
    fs::create_dir_all(&dev).unwrap();
    std::os::unix::fs::symlink("../../../kernel/iommu_groups/7", dev.join("iommu_group")).unwrap();
    std::os::unix::fs::symlink(
        "../../../class/sdmdev/softzip/device/mdev_supported_types/softzip-comp",
        dev.join("mdev_type"),
    )
    .unwrap();
    (root.clone(), Sysfs::new(root))
}

#[test]
fn discovery_reads_parents_types_and_groups() {
    let (root, s) = fake_sysfs();
    let ps = s.parents().unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(
        (ps[0].name.as_str(), ps[0].iommu_type, ps[0].dma_flag),
        ("softzip", 3, 2)
    );
    let ids: Vec<_> = ps[0].types.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["softzip-comp", "softzip-decomp"]);
    assert_eq!(ps[0].types[0].direction(), Some(Direction::Compress));
    assert_eq!(ps[0].types[1].direction(), Some(Direction::Decompress));
    let (_, t) = s.find_type(Direction::Decompress).unwrap();
    assert_eq!(t.name, "decomp");
    // No free decompression instance: creating one says so before touching sysfs.
    let e = s.create_mdev(&t, "abcd").unwrap_err();
    assert!(
        matches!(e, Error::NoDevice(ref m) if m.contains("no free instance")),
        "{e}"
    );
    let (_, t) = s.find_type(Direction::Compress).unwrap();
    s.create_mdev(&t, "abcd").unwrap();
    assert_eq!(fs::read_to_string(t.path.join("create")).unwrap(), "abcd");
    assert_eq!(s.mdev_group("1234").unwrap(), 7);
    assert_eq!(s.mdevs_of_type("softzip-comp"), ["1234"]);
    assert!(s.mdevs_of_type("softzip-decomp").is_empty());
    assert!(s.mdev_group("nope").is_err());
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn no_sdmdev_class_is_no_device_with_a_hint() {
    let s = Sysfs::new("/nonexistent-sysfs-root");
    assert!(s.parents().unwrap().is_empty());
    let e = s.find_type(Direction::Compress).unwrap_err();
    assert!(
        matches!(e, Error::NoDevice(ref m) if m.contains("module loaded")),
        "{e}"
    );
}

#[test]
fn listing_reads_what_it_can_and_says_why_a_type_is_unusable() {
    let (root, _) = fake_sysfs();
    let class = root.join("class/sdmdev");
    // A second parent with its parameters beside `params/` and sparse types.
    let p = class.join("old");
    fs::create_dir_all(p.join("device/mdev_supported_types/bare")).unwrap();
    fs::write(p.join("iommu_type"), "1\n").unwrap();
    let odd = p.join("device/mdev_supported_types/odd");
    fs::create_dir_all(&odd).unwrap();
    fs::write(odd.join("device_api"), "other_v9\n").unwrap();
    fs::write(odd.join("available_instances"), "x\n").unwrap();
    let noflags = p.join("device/mdev_supported_types/noflags");
    fs::create_dir_all(&noflags).unwrap();
    fs::write(noflags.join("device_api"), "hisi_qm_v1\n").unwrap();
    // A parent without types is not listed.
    fs::create_dir_all(class.join("empty/params")).unwrap();

    let l = list_sdmdev_devices(&class);
    let names: Vec<_> = l.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "old/bare",
            "old/noflags",
            "old/odd",
            "softzip/softzip-comp",
            "softzip/softzip-decomp"
        ]
    );
    let (bare, noflags, odd, comp) = (&l[0], &l[1], &l[2], &l[3]);
    assert_eq!((bare.iommu_type, bare.dma_flag), (Some(1), None));
    assert_eq!(
        (bare.device_api.as_str(), bare.description.as_str()),
        ("unknown", "bare")
    );
    assert!(
        !bare.usable && bare.note.contains("unknown"),
        "{}",
        bare.note
    );
    assert!(noflags.note.contains("no direction"), "{}", noflags.note);
    assert_eq!(odd.available_instances, None);
    assert!(!odd.usable && odd.note.contains("other_v9"), "{}", odd.note);
    assert_eq!(comp.direction, Some(Direction::Compress));
    assert_eq!((comp.iommu_type, comp.dma_flag), (Some(3), Some(2)));
    assert_eq!(
        (comp.available_instances, comp.description.as_str()),
        (Some(2), "comp")
    );
    let vfio = Path::new("/dev/vfio/vfio").exists();
    assert_eq!(comp.usable, vfio);
    assert_eq!(comp.note.contains("vfio"), !vfio);
    assert!(list_sdmdev_devices(&root.join("missing")).is_empty());
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn uuids_are_fresh() {
    let (a, b) = (new_uuid().unwrap(), new_uuid().unwrap());
    assert_eq!(a.len(), 36);
    assert_ne!(a, b);
}

fn fake_uacce(root: &Path, name: &str, attrs: &[(&str, &str)]) -> PathBuf {
    let d = root.join(name);
    fs::create_dir_all(d.join("device")).unwrap();
    for (k, v) in attrs {
        fs::write(d.join(k), v).unwrap();
    }
    d
}

const GOOD: [(&str, &str); 7] = [
    ("api", "hisi_qm_v2\n"),
    ("flags", "1\n"),
    ("available_instances", "3\n"),
    ("algorithms", "zlib\ngzip\ndeflate\n"),
    ("region_mmio_size", "8192\n"),
    ("region_dus_size", "151552\n"),
    ("device/numa_node", "1\n"),
];

#[test]
fn uacce_devices_are_read_and_judged() {
    let root = std::env::temp_dir().join(format!("wd-uacce-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fake_uacce(&root, "hisi_zip-0", &GOOD);
    let mut v1 = GOOD;
    v1[0] = ("api", "hisi_qm_v1\n");
    fake_uacce(&root, "hisi_zip-1", &v1);
    let mut isolated = GOOD.to_vec();
    isolated.push(("isolate", "1\n"));
    fake_uacce(&root, "hisi_zip-2", &isolated);
    let mut no_gzip = GOOD;
    no_gzip[3] = ("algorithms", "zlib\ndeflate\n");
    fake_uacce(&root, "hisi_zip-3", &no_gzip);
    let mut sec = GOOD;
    sec[0] = ("api", "hisi_qm_v3\n");
    sec[5] = ("region_dus_size", "77824\n");
    fake_uacce(&root, "hisi_zip-4", &sec);
    let d = uacce_devices(&root);
    assert_eq!(d.len(), 5);
    assert_eq!(d[0].name, "hisi_zip-0");
    assert_eq!(d[0].dialect(), Some(crate::abi::Dialect::V2));
    assert_eq!(
        (d[0].available_instances, d[0].numa_node, d[0].isolated),
        (Some(3), Some(1), false)
    );
    assert_eq!(d[0].node(), Path::new("/dev/hisi_zip-0"));
    assert!(d[0].note.is_empty(), "{}", d[0].note);
    assert!(d[1].note.contains("hisi_qm_v1"), "{}", d[1].note);
    assert!(
        d[2].isolated && d[2].note.contains("isolated"),
        "{}",
        d[2].note
    );
    assert!(d[3].note.contains("gzip"), "{}", d[3].note);
    assert!(d[4].note.contains("region_dus_size"), "{}", d[4].note);
    let e = list_uacce_devices(&root);
    assert_eq!(
        (e[0].kind, e[0].usable, e[0].isolated),
        (crate::backend::DeviceKind::Uacce, true, Some(false))
    );
    assert_eq!(e[0].device_api, "hisi_qm_v2");
    assert_eq!(
        e[0].description,
        "uacce zlib/gzip/deflate, NUMA node 1, not isolated"
    );
    assert!(!e[2].usable);
    assert!(uacce_devices(&root.join("missing")).is_empty());
    fs::remove_dir_all(&root).unwrap();
}
